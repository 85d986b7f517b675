"""The services that run FFmpeg (video_processing, media_processor, recording_processor) check it
when they start: with the FFmpeg this run uses (the bundled one, or ``V100_FFMPEG``) they start
and answer /ready; with an unusable ``V100_FFMPEG`` ``v100 serve`` exits before serving, and
what it prints says what is missing. Kept with the media tests so the CI run against Debian's
FFmpeg (``V100_FFMPEG=/usr/bin/ffmpeg``) starts the services on it too."""

from __future__ import annotations

import importlib
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from v100.kit.settings import PlatformSettings
from v100.kit.testing.http import running_app
from v100.media import bundled_ffmpeg, check_ffmpeg, ffmpeg_path

SERVICES = ["video_processing", "media_processor", "recording_processor"]
SECRET = "ffmpeg-at-start-test-secret-0123456789abcdef"
V100 = str(Path(sys.executable).with_name("v100"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("name", SERVICES)
async def test_starts_with_the_ffmpeg_this_run_uses(name: str, tmp_path: Path) -> None:
    module = importlib.import_module(f"v100.services.{name}.app")
    platform = PlatformSettings(var_dir=tmp_path, internal_token_secret=SECRET)
    async with running_app(module.create_app(module.Settings(platform=platform))) as http:
        assert (await http.get("/ready")).status_code == 200
    # What the start-up hook checked: V100_FFMPEG when this run sets it, else the bundled one.
    assert check_ffmpeg().path == (os.environ.get("V100_FFMPEG") or bundled_ffmpeg())
    assert ffmpeg_path() == check_ffmpeg().path


def _old_ffmpeg(tmp_path: Path) -> Path:
    """The bundled FFmpeg, saying it is 4.4 (older than the 5.1 floor)."""
    old = tmp_path / "ffmpeg-4.4"
    old.write_text(
        "#!/bin/sh\n"
        'if [ "$2" = "-version" ]; then\n'
        "  echo 'ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright (c) 2000-2021 the FFmpeg'\n"
        "  exit 0\n"
        "fi\n"
        f'exec "{bundled_ffmpeg()}" "$@"\n'
    )
    old.chmod(old.stat().st_mode | stat.S_IXUSR)
    return old


def _run_v100(args: list[str], old: Path, tmp_path: Path, **env: str) -> str:
    """``v100 ARGS`` with the old FFmpeg; what it printed, once it has exited non-zero."""
    environ = {**os.environ, "V100_FFMPEG": str(old), "V100_LOG_JSON": "false", **env}
    environ.pop("V100_LOG_FILE", None)
    finished = subprocess.run(
        [V100, *args], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=90,
        check=False,
    )  # fmt: skip
    assert finished.returncode != 0, finished
    return finished.stdout + finished.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_refuses_to_start_on_an_unusable_ffmpeg(name: str, tmp_path: Path) -> None:
    old = _old_ffmpeg(tmp_path)
    port = _free_port()
    output = _run_v100(["serve", name, "--port", str(port)], old, tmp_path)
    assert f"V100_FFMPEG ({old}) is FFmpeg 4.4.2-0ubuntu0.22.04.1" in output
    assert "Missing: version 4.4 (at least 5.1)." in output
    assert "Application startup failed" in output
    # It never served. (Binding the port afterwards would race with other test processes.)
    assert "Uvicorn running on" not in output


def test_v100_up_says_why_a_service_did_not_start(tmp_path: Path) -> None:
    old = _old_ffmpeg(tmp_path)
    # The start-up check fails before uvicorn binds the service's port.
    output = _run_v100(["up", "--only", "media_processor"], old, tmp_path)
    assert "V100 media_processor did not start: V100_FFMPEG" in output
    assert "Missing: version 4.4 (at least 5.1)." in output


def test_v100_worker_refuses_before_taking_jobs(tmp_path: Path) -> None:
    old = _old_ffmpeg(tmp_path)
    # The check comes before the job stream is opened: nothing listens at this Redis URL.
    output = _run_v100(
        ["worker", "media_processor"], old, tmp_path, V100_REDIS_URL="redis://127.0.0.1:9/0"
    )
    assert "v100 worker media_processor did not start: V100_FFMPEG" in output
    assert "Missing: version 4.4 (at least 5.1)." in output
