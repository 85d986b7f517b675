"""A video that speaks, made at run time: FFmpeg's ``testsrc2`` picture muxed with speech that
espeak-ng says from a known text (H.264 and AAC in MP4), for the tests that transcribe a
stored video. Skipped, saying why, without espeak-ng."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from v100.ai.testing import espeak_ng, make_speech
from v100.media import ffmpeg_path


def make_speaking_video(
    path: Path,
    text: str,
    *,
    width: int = 320,
    height: int = 240,
    silence_before: float = 0.5,
    silence_after: float = 0.5,
) -> Path:
    """``text`` spoken over a test picture, the video as long as the speech and its silences."""
    if espeak_ng() is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    with tempfile.TemporaryDirectory() as scratch:
        speech = make_speech(
            Path(scratch) / "speech.wav", text,
            silence_before=silence_before, silence_after=silence_after,
        )  # fmt: skip
        subprocess.run(
            [
                ffmpeg_path(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
                "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=25",
                "-i", str(speech), "-shortest", "-c:v", "libx264", "-preset", "ultrafast",
                "-pix_fmt", "yuv420p", "-c:a", "aac", str(path),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return path
