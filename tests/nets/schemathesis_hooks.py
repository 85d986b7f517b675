"""Loaded by schemathesis (``SCHEMATHESIS_HOOKS``) for test_schemathesis.py: a 5xx fails unless
the operation documents that status (503 when a vendor is not configured)."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def no_undocumented_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    status = response.status_code
    if status < 500:
        return None
    documented = case.operation.definition.raw.get("responses", {})
    if str(status) in documented or "5XX" in documented:
        return None
    raise AssertionError(f"{status} is not a documented answer of {case.operation.label}")
