"""Bad input never leaves a job stuck: each ends ``failed`` with a clear error (or, for an empty
body, is refused before any job exists), on both backends, within a bounded time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mp_support import MediaApp, new_tenant

from v100.kit.testing.http import running_app
from v100.media.testing import make_audio, make_broken, make_video
from v100.services.media_processor.app import create_app

pytestmark = pytest.mark.slow  # about 30 s on both backends


@pytest.fixture(scope="session")
def broken(media_dir: Path) -> dict[str, bytes]:
    made = {
        kind: make_broken(media_dir / f"broken-{kind}.mp4", kind).read_bytes()
        for kind in ("not_media", "truncated", "truncated_faststart", "huge")
    }
    made["audio_only"] = make_audio(media_dir / "tone.m4a", seconds=2).read_bytes()
    made["silent_video"] = make_video(media_dir / "mute.mp4", seconds=2, audio=False).read_bytes()
    return made


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


async def test_input_over_the_limit_is_refused_while_streaming(
    mp: MediaApp, small_video: bytes
) -> None:
    settings = mp.settings.model_copy(update={"max_input_bytes": 1000})
    app = create_app(settings)
    async with running_app(app) as http:
        small = MediaApp(app=app, http=http, settings=settings, billing=mp.billing)
        tenant = new_tenant()

        async def body() -> AsyncIterator[bytes]:
            for start in range(0, len(small_video), 500):
                yield small_video[start : start + 500]

        answer = await http.put(
            "/v1/media/inputs/big.mp4", content=body(), headers=small.headers(tenant)
        )
        assert answer.status_code == 413
        assert answer.json()["type"] == "/problems/media-input-too-large"
        gone = await http.get("/v1/media/inputs/big.mp4", headers=small.headers(tenant))
        assert gone.status_code == 404
        leftovers = [o async for o in app.state.runtime.storage.list(f"media/{tenant}/")]
        assert leftovers == []
