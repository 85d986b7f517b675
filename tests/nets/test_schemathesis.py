"""schemathesis over the gateway's merged OpenAPI document, against the whole embedded platform
(every service behind the real gateway), as a signed-in owner: a few generated requests per
operation, bounded in time, and not one 5xx that the operation does not document."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from .support import embedded_platform

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.slow
@pytest.mark.timeout(240)  # the run is bounded at 80 s; the platform starts in a few
async def test_generated_requests_get_no_undocumented_server_error(tmp_path: Path) -> None:
    async with embedded_platform(tmp_path) as platform:
        owner = await platform.signup("Fuzz")
        url = platform.urls["gateway"]
        process = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--url", url,
            "--header", f"Authorization: {owner.headers['Authorization']}",
            "--checks", "no_undocumented_server_error",
            "--phases", "examples,fuzzing",
            "--max-examples", "5", "--seed", "11", "--max-time", "80",
            "--request-timeout", "30", "--workers", "1", "--no-color",
            "--warnings", "off",
            env={**os.environ, "SCHEMATHESIS_HOOKS": HOOKS.stem, "PYTHONPATH": str(HOOKS.parent)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
        report = output.decode(errors="replace")
        assert process.returncode == 0, report[-8000:]
        # Not a vacuous pass: every operation of the merged document was tried.
        assert "Tested: " in report, report[-2000:]
        selected = report.split("Selected: ", 1)[1].split()[0]  # "85/85"
        assert selected.split("/")[0] == selected.split("/")[1], selected
