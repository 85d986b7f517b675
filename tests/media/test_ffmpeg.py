"""The FFmpeg runner: progress from ``-progress``, errors with FFmpeg's own words, whitelists,
and no process left behind on timeout or cancellation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
import pytest

from v100.media import FFmpegFailed, FFmpegTimedOut, Progress, input_args, probe, run_ffmpeg
from v100.media.testing import make_video


async def test_reports_progress_to_one_hundred(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", seconds=3)
    seen: list[Progress] = []
    await run_ffmpeg(
        [*input_args(source), "-c:v", "libx264", "-preset", "ultrafast", str(tmp_path / "o.mp4")],
        duration=3.0,
        on_progress=seen.append,
    )
    assert seen
    assert seen[-1].done
    assert seen[-1].percent == 100.0
    percents = [p.percent for p in seen if p.percent is not None]
    assert percents == sorted(percents)
    info = await probe(tmp_path / "o.mp4")
    assert info.duration == pytest.approx(3.0, abs=0.1)


async def test_async_progress_callbacks_are_awaited(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", seconds=1, audio=False)
    calls = 0

    async def record(progress: Progress) -> None:
        nonlocal calls
        await asyncio.sleep(0)
        calls += 1

    await run_ffmpeg([*input_args(source), "-f", "null", "-"], on_progress=record)
    assert calls >= 1


async def test_failure_carries_ffmpegs_message(tmp_path: Path) -> None:
    with pytest.raises(FFmpegFailed) as raised:
        await run_ffmpeg([*input_args(tmp_path / "missing.mp4"), "-f", "null", "-"])
    assert raised.value.returncode != 0
    assert "No such file" in raised.value.reason


async def test_playlist_input_cannot_read_local_files(tmp_path: Path) -> None:
    playlist = tmp_path / "evil.m3u8"
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/hostname\n")
    with pytest.raises(FFmpegFailed):
        await run_ffmpeg([*input_args(playlist), "-f", "null", "-"])


def _ffmpeg_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "ffmpeg" in p.name()]


async def test_timeout_kills_the_process(tmp_path: Path) -> None:
    endless = ["-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25", "-f", "null", "-"]
    with pytest.raises(FFmpegTimedOut):
        await run_ffmpeg(endless, timeout=0.5)
    assert _ffmpeg_children() == []


async def test_cancellation_kills_the_process() -> None:
    endless = ["-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25", "-f", "null", "-"]
    task = asyncio.create_task(run_ffmpeg(endless))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _ffmpeg_children() == []
