"""What every client in ``contracts`` does alike: it signs its calls with the platform's
internal token secret (``platform_tokens``), reads a refusal as the RFC 9457 body the service
answered, or what stands for one when the body is not JSON (``problem_of``), and raises it as a
subclass of ``Refused``. What a refusal means stays with each client."""

from __future__ import annotations

from typing import Any

import httpx

from v100.kit.auth import InternalTokens
from v100.kit.settings import PlatformSettings

__all__ = ["Refused", "platform_tokens", "problem_of"]


class Refused(Exception):
    """A service refused a call; ``problem`` is its RFC 9457 body."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('type')}: {problem.get('detail')}")
        self.status = status
        self.problem = problem


def platform_tokens(platform: PlatformSettings) -> InternalTokens:
    """The internal tokens a client of another service signs its calls with."""
    return InternalTokens(
        platform.resolved_internal_token_secret, platform.internal_token_ttl_seconds
    )


def problem_of(response: httpx.Response) -> dict[str, Any]:
    """A refusal's problem body; a body that is not JSON stands as its status and first 200
    characters."""
    try:
        problem: dict[str, Any] = response.json()
    except ValueError:
        problem = {"status": response.status_code, "detail": response.text[:200]}
    return problem
