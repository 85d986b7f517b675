"""Bad input never leaves a job stuck: each ends ``failed`` with a clear error (or, for an empty
body, is refused before any job exists), on both backends, within a bounded time: damaged
files, oversized pictures, missing streams, and playlists naming local files or other hosts
(FFmpeg's protocol whitelist; the other host is never contacted). Odd but valid inputs
(rotated, variable frame rate) succeed."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from v100.kit.testing.servers import serving
from v100.media.testing import make_audio, make_broken, make_video

from .support import MediaApp, new_tenant

# About 30 s on both backends; one app per backend for the module (conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(scope="session")
def broken(media_dir: Path) -> dict[str, bytes]:
    made = {
        kind: make_broken(media_dir / f"broken-{kind}.mp4", kind).read_bytes()
        for kind in ("not_media", "truncated", "truncated_faststart", "huge")
    }
    made["audio_only"] = make_audio(media_dir / "tone.m4a", seconds=2).read_bytes()
    made["silent_video"] = make_video(media_dir / "mute.mp4", seconds=2, audio=False).read_bytes()
    made["playlist_file"] = _playlist("file:///etc/passwd")
    return made


def _playlist(segment: str) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n"
        f"#EXTINF:3.0,\n{segment}\n#EXT-X-ENDLIST\n"
    ).encode()


CASES = [
    # (input, operation and parameters, error slugs accepted)
    ("not_media", {"operation": "transcode", "platform": "youtube"}, {"input-unsupported"}),
    ("truncated", {"operation": "extract_audio"}, {"input-unsupported", "input-unreadable"}),
    ("truncated_faststart", {"operation": "transcode", "platform": "x"}, {"input-unreadable"}),
    ("huge", {"operation": "thumbnail"}, {"input-too-large"}),
    ("huge", {"operation": "transcode", "platform": "linkedin"}, {"input-too-large"}),
    ("audio_only", {"operation": "transcode", "platform": "tiktok"}, {"input-no-video"}),
    ("audio_only", {"operation": "thumbnail"}, {"input-unsupported"}),
    ("silent_video", {"operation": "normalize_audio"}, {"input-unsupported"}),
    ("silent_video", {"operation": "resample_audio", "sample_rate": 16000}, {"input-unsupported"}),
    ("playlist_file", {"operation": "transcode", "platform": "youtube"}, {"input-unsupported"}),
    ("playlist_file", {"operation": "extract_audio"}, {"input-unsupported"}),
]


@pytest.mark.parametrize(("kind", "request_body", "slugs"), CASES)
async def test_bad_input_fails_the_job_with_a_clear_error(
    mp: MediaApp,
    broken: dict[str, bytes],
    kind: str,
    request_body: dict[str, object],
    slugs: set[str],
) -> None:
    tenant = new_tenant()
    available, _ = await mp.balance(tenant)
    assert (await mp.put_input(tenant, f"{kind}.mp4", broken[kind])).status_code == 200
    job = await mp.run(tenant, {"input": f"{kind}.mp4", **request_body}, within=90)
    assert job["status"] == "failed", job
    assert job["error"]["type"].removeprefix("/problems/") in slugs, job["error"]
    assert job["error"]["detail"]
    assert job["download"] is None
    assert job["credits_charged"] is None
    assert await mp.balance(tenant) == (available, 0)  # a hold, if any, was released


async def test_empty_input_is_refused_and_keeps_the_previous_one(
    mp: MediaApp, small_video: bytes
) -> None:
    tenant = new_tenant()
    assert (await mp.put_input(tenant, "v.mp4", small_video)).status_code == 200
    empty = await mp.put_input(tenant, "v.mp4", b"")
    assert empty.status_code == 422
    assert empty.json()["type"] == "/problems/media-input-empty"
    kept = await mp.http.get("/v1/media/inputs/v.mp4", headers=mp.headers(tenant))
    assert kept.json()["size"] == len(small_video)


async def test_a_playlist_naming_another_host_fails_and_the_host_sees_nothing(
    mp: MediaApp, small_video: bytes
) -> None:
    hits: list[str] = []

    async def serve(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(small_video, media_type="video/mp2t")

    tenant = new_tenant()
    available, _ = await mp.balance(tenant)
    async with serving(Starlette(routes=[Route("/{name}", serve)])) as origin:
        playlist = _playlist(f"{origin}/segment0.ts")
        assert (await mp.put_input(tenant, "list.m3u8", playlist)).status_code == 200
        job = await mp.run(
            tenant, {"input": "list.m3u8", "operation": "transcode", "platform": "youtube"}
        )
    assert job["status"] == "failed", job
    assert job["error"]["type"] == "/problems/input-unsupported", job["error"]
    assert hits == []
    assert await mp.balance(tenant) == (available, 0)


async def test_rotated_and_variable_frame_rate_inputs_succeed(
    mp: MediaApp, media_dir: Path
) -> None:
    tenant = new_tenant()
    rotated = make_video(
        media_dir / "rotated.mp4", seconds=2, width=320, height=240, rotation=90
    ).read_bytes()
    vfr = make_video(media_dir / "vfr.mp4", seconds=2, variable_frame_rate=True).read_bytes()
    assert (await mp.put_input(tenant, "rotated.mp4", rotated)).status_code == 200
    assert (await mp.put_input(tenant, "vfr.mp4", vfr)).status_code == 200
    thumb = await mp.run(tenant, {"input": "rotated.mp4", "operation": "thumbnail"})
    assert thumb["status"] == "succeeded", thumb
    (media_dir / f"thumb-{tenant}.jpg").write_bytes(await mp.fetch(thumb["download"]["url"]))
    with av.open(str(media_dir / f"thumb-{tenant}.jpg")) as picture:  # probe reads no images
        context = picture.streams.video[0].codec_context
        assert (context.width, context.height) == (240, 320)  # upright
    for name in ("rotated.mp4", "vfr.mp4"):
        job = await mp.run(tenant, {"input": name, "operation": "transcode", "platform": "x"})
        assert job["status"] == "succeeded", (name, job)
        assert job["output"]["duration"] == pytest.approx(2.0, abs=0.2), name
