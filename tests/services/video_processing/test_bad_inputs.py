"""Bad inputs end as ``errored`` with a clear ``error`` on the video (never a stuck job), and no
credits are charged for them; odd but valid inputs (rotated, variable frame rate, audio only)
end ``ready``. Both backends (SQLite + local disk, PostgreSQL + S3). Tus-level faults (a
checksum mismatch, a body past the declared length) are in test_upload_faults.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from v100.kit.testing.servers import serving
from v100.media import measure_loudness
from v100.media.testing import make_audio, make_video

from .support import VideoApp, fetch, new_tenant

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


def _truncated(media_dir: Path) -> bytes:
    whole = make_video(media_dir / "whole.mp4", seconds=3).read_bytes()
    return whole[: len(whole) // 2]


BAD = {
    "zero-length": (lambda d: b"", "empty-input"),
    "corrupt": (lambda d: bytes(range(256)) * 64, "unsupported-input"),
    "truncated": (_truncated, None),
    "playlist-naming-file": (
        lambda d: (
            b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
        ),
        "unsupported-input",
    ),
    "huge-resolution": (
        lambda d: make_video(
            d / "huge.mp4", seconds=0.4, width=7800, height=64, fps=5, audio=False
        ).read_bytes(),
        "input-too-large",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_input_ends_errored_and_free(vp: VideoApp, case: str, tmp_path: Path) -> None:
    make, expected_type = BAD[case]
    tenant = new_tenant()
    before = await vp.balance(tenant)
    upload_id = await vp.tus_upload(tenant, make(tmp_path))
    video = await vp.wait(tenant, (await vp.video_of_upload(tenant, upload_id))["id"])
    assert video["status"] == "errored"
    error = video["error"]
    assert error["type"]
    assert error["detail"]
    if expected_type is not None:
        assert error["type"] == expected_type, error
    else:
        assert error["type"].endswith("-input"), error
    assert video["renditions"] == [] or case == "truncated"
    assert video["playback"] is None
    assert await vp.balance(tenant) == before  # nothing held, nothing charged


async def test_a_playlist_naming_another_host_is_refused_and_never_fetched(
    vp: VideoApp, small_video: Path
) -> None:
    """An HLS playlist whose segment lives on another host (a live one, on loopback): FFmpeg's
    protocol whitelist (file only, on a local scratch copy) refuses it; the host sees nothing."""
    hits: list[str] = []
    segment = await asyncio.to_thread(small_video.read_bytes)

    async def serve(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(segment, media_type="video/mp2t")

    tenant = new_tenant()
    before = await vp.balance(tenant)
    async with serving(Starlette(routes=[Route("/{name}", serve)])) as origin:
        playlist = (
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n"
            f"#EXTINF:3.0,\n{origin}/segment0.ts\n#EXT-X-ENDLIST\n"
        ).encode()
        upload_id = await vp.tus_upload(tenant, playlist)
        video = await vp.wait(tenant, (await vp.video_of_upload(tenant, upload_id))["id"])
    assert video["status"] == "errored"
    assert video["error"]["type"] == "unsupported-input", video["error"]
    assert video["renditions"] == []
    assert hits == []
    assert await vp.balance(tenant) == before


async def test_rotated_variable_rate_and_audio_only_become_ready(
    vp: VideoApp, tmp_path: Path
) -> None:
    tenant = new_tenant()
    rotated = make_video(tmp_path / "rotated.mp4", seconds=2, width=320, height=240, rotation=90)
    vfr = make_video(tmp_path / "vfr.mp4", seconds=2, variable_frame_rate=True)
    audio = make_audio(tmp_path / "tone.m4a", seconds=2)
    ids = {}
    for name, path in (("rotated", rotated), ("vfr", vfr), ("audio", audio)):
        upload_id = await vp.tus_upload(tenant, path)
        ids[name] = (await vp.video_of_upload(tenant, upload_id))["id"]
    videos = {name: await vp.wait(tenant, video_id) for name, video_id in ids.items()}
    for name, video in videos.items():
        assert video["status"] == "ready", (name, video["error"])

    rotated_out = {r["name"]: r for r in videos["rotated"]["renditions"]}
    assert videos["rotated"]["aspect_ratio"] == "3:4"
    assert (rotated_out["mp4"]["width"], rotated_out["mp4"]["height"]) == (240, 320)
    assert videos["vfr"]["source"]["video"]["variable_frame_rate"] is True
    assert "master" in {r["name"] for r in videos["vfr"]["renditions"]}
    # Audio only: an M4A, no picture renditions, no HLS (docs/video.md).
    assert {r["name"] for r in videos["audio"]["renditions"]} == {"m4a"}
    assert videos["audio"]["playback"]["m4a"]
    assert videos["audio"]["playback"]["hls"] is None


async def test_auto_trim_and_loudness_normalization(vp: VideoApp, tmp_path: Path) -> None:
    """A quiet tone between 1.5 s of silence on each side: trimmed to the tone, brought to
    -16 LUFS, flags set through the upload's metadata."""
    tenant = new_tenant()
    quiet = make_audio(
        tmp_path / "quiet.m4a", seconds=2, volume_db=-30, silence_before=1.5, silence_after=1.5
    )
    flags = "auto_trim dHJ1ZQ==,normalize_audio dHJ1ZQ=="  # base64 of "true"
    upload_id = await vp.tus_upload(tenant, quiet, metadata=flags)
    video = await vp.wait(tenant, (await vp.video_of_upload(tenant, upload_id))["id"])
    assert video["status"] == "ready", video["error"]
    assert video["auto_trim"]
    assert video["normalize_audio"]
    assert video["trim"]["start"] == pytest.approx(1.5, abs=0.3)
    assert video["trim"]["end"] == pytest.approx(3.5, abs=0.3)
    assert video["duration"] == pytest.approx(2.0, abs=0.3)
    m4a = await fetch(vp.http, video["playback"]["m4a"])
    out = tmp_path / "out.m4a"
    out.write_bytes(m4a.content)
    loudness = await measure_loudness(out)
    assert loudness.integrated == pytest.approx(-16.0, abs=1.5)
