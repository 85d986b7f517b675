"""Media jobs end to end on both backends: each operation on a real lavfi input stored through
``PUT /v1/media/inputs/{name}``, the output fetched through its presigned URL and probed, the
state machine's events, live progress, credits for transcodes, idempotency and tenancy."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import av
import orjson
import pytest

from v100 import media
from v100.contracts.events import (
    MEDIA_JOB_FAILED,
    MEDIA_JOB_SUCCEEDED,
    MediaJobProgress,
    media_progress_channel,
)
from v100.kit.testing.http import running_app
from v100.services.media_processor.app import create_app

from .support import MediaApp, new_tenant

# About 30 s on both backends; one app per backend for the module (conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


async def _output(mp: MediaApp, job: dict[str, object], tmp_path: Path) -> media.MediaInfo:
    download = job["download"]
    assert isinstance(download, dict)
    data = await mp.fetch(download["url"])
    assert len(data) == download["size"]
    path = tmp_path / download["filename"]
    path.write_bytes(data)
    return await media.probe(path)


async def test_transcode_to_tiktok_is_portrait_checked_charged_and_announced(
    mp: MediaApp, small_video: bytes, tmp_path: Path
) -> None:
    tenant = new_tenant()
    available, _ = await mp.balance(tenant)
    stored = await mp.put_input(tenant, "talk.mp4", small_video)
    assert stored.status_code == 200, stored.text
    assert stored.json()["size"] == len(small_video)

    bus = mp.app.state.runtime.bus
    progress: list[MediaJobProgress] = []
    async with bus.subscribe(media_progress_channel(tenant)) as subscription:

        async def listen() -> None:
            async for raw in subscription:
                progress.append(MediaJobProgress.model_validate_json(raw))

        listener = asyncio.create_task(listen())
        job = await mp.run(tenant, {"input": "talk.mp4", "operation": "transcode",
                                    "platform": "tiktok"})  # fmt: skip
        await asyncio.sleep(0.2)
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener

    assert job["status"] == "succeeded", job
    assert job["percent"] == 100
    assert job["result"]["platform"] == "tiktok"
    assert job["result"]["spec_problems"] == []
    info = await _output(mp, job, tmp_path)
    assert info.video is not None
    assert info.video.codec == "h264"
    assert info.video.display_height > info.video.display_width  # 9:16, cropped from 16:9
    assert info.video.display_height >= 360  # TikTok's minimum side
    assert info.duration == pytest.approx(3.0, abs=0.15)
    assert media.check_against(info, media.PLATFORM_SPECS["tiktok"]) == []

    # Live progress on the tenant's channel, rising; the durable event once settled.
    percents = [p.percent for p in progress if p.id == job["id"]]
    assert percents, "no progress was published"
    assert percents == sorted(percents)
    events = await mp.events(job["id"])
    assert [e.type for e in events] == [MEDIA_JOB_SUCCEEDED]
    assert events[0].data["operation"] == "transcode"

    # One started minute of output, charged once.
    assert job["credits_charged"] == 1
    assert await mp.balance(tenant) == (available - 1, 0)


async def test_normalize_audio_reaches_the_configured_target(
    mp: MediaApp, quiet_tone: bytes, tmp_path: Path
) -> None:
    tenant = new_tenant()
    assert (await mp.put_input(tenant, "voice.wav", quiet_tone, "audio/wav")).status_code == 200
    job = await mp.run(tenant, {"input": "voice.wav", "operation": "normalize_audio",
                                "target_i": -20})  # fmt: skip
    assert job["status"] == "succeeded", job
    assert job["result"]["before"]["integrated"] < -30
    assert job["result"]["after"]["integrated"] == pytest.approx(-20, abs=1.0)
    assert job["credits_charged"] is None  # only transcodes cost credits
    info = await _output(mp, job, tmp_path)
    assert info.video is None
    assert info.audio is not None
    assert info.audio.codec == "aac"
    measured = await media.measure_loudness(tmp_path / job["download"]["filename"])
    assert measured.integrated == pytest.approx(-20, abs=1.0)


async def test_resample_extract_and_thumbnail(
    mp: MediaApp, small_video: bytes, tmp_path: Path
) -> None:
    tenant = new_tenant()
    assert (await mp.put_input(tenant, "clip.mp4", small_video)).status_code == 200
    resample, extract, thumbnail = await asyncio.gather(
        mp.run(tenant, {"input": "clip.mp4", "operation": "resample_audio",
                        "sample_rate": 16000, "channels": 1, "format": "wav"}),
        mp.run(tenant, {"input": "clip.mp4", "operation": "extract_audio"}),
        mp.run(tenant, {"input": "clip.mp4", "operation": "thumbnail", "at": 1.0, "width": 320}),
    )  # fmt: skip

    assert resample["status"] == "succeeded", resample
    wav = await _output(mp, resample, tmp_path)
    assert wav.audio is not None
    assert (wav.audio.codec, wav.audio.sample_rate, wav.audio.channels) == ("pcm_s16le", 16000, 1)
    assert wav.video is None
    assert wav.duration == pytest.approx(3.0, abs=0.1)

    assert extract["status"] == "succeeded", extract
    m4a = await _output(mp, extract, tmp_path)
    assert m4a.video is None
    assert m4a.audio is not None
    assert m4a.audio.codec == "aac"

    assert thumbnail["status"] == "succeeded", thumbnail
    assert thumbnail["result"] == {"at": 1.0}
    assert thumbnail["download"]["content_type"] == "image/jpeg"
    jpeg = await mp.fetch(thumbnail["download"]["url"])
    assert jpeg[:2] == b"\xff\xd8"
    (tmp_path / "thumb.jpg").write_bytes(jpeg)
    with av.open(str(tmp_path / "thumb.jpg")) as picture:  # media.probe reads no images
        assert picture.streams.video[0].codec_context.width == 320


async def test_create_is_idempotent_and_jobs_belong_to_their_tenant(
    mp: MediaApp, small_video: bytes
) -> None:
    tenant = new_tenant()
    assert (await mp.put_input(tenant, "a.mp4", small_video)).status_code == 200
    body = {"input": "a.mp4", "operation": "thumbnail"}
    first = await mp.post_job(tenant, body, key="same-key")
    again = await mp.post_job(tenant, body, key="same-key")
    assert first.status_code == again.status_code == 202
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    reused = await mp.post_job(tenant, {**body, "at": 1.0}, key="same-key")
    assert reused.status_code == 409
    await mp.wait(tenant, first.json()["id"])

    listed = await mp.http.get("/v1/media/jobs", headers=mp.headers(tenant))
    assert [job["id"] for job in listed.json()["items"]] == [first.json()["id"]]
    other = new_tenant()
    assert (await mp.http.get(f"/v1/media/jobs/{first.json()['id']}",
                              headers=mp.headers(other))).status_code == 404  # fmt: skip
    missing = await mp.post_job(other, body)
    assert missing.status_code == 404
    assert missing.json()["type"] == "/problems/media-input-not-found"


async def test_request_validation(mp: MediaApp) -> None:
    tenant = new_tenant()
    for body in (
        {"input": "a.mp4", "operation": "explode"},
        {"input": "a.mp4", "operation": "transcode", "platform": "myspace"},
        {"input": "a.mp4", "operation": "resample_audio", "sample_rate": 44100, "format": "opus"},
        {"input": "../etc/passwd", "operation": "thumbnail"},
        {"input": "a.mp4", "operation": "normalize_audio", "target_i": 3},
    ):
        answer = await mp.post_job(tenant, body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")


async def test_replacing_an_input_keeps_what_a_queued_job_reads(
    mp: MediaApp, small_video: bytes, quiet_tone: bytes
) -> None:
    tenant = new_tenant()
    assert (await mp.put_input(tenant, "x.mp4", small_video)).status_code == 200
    created = await mp.post_job(tenant, {"input": "x.mp4", "operation": "extract_audio"})
    replaced = await mp.put_input(tenant, "x.mp4", quiet_tone, "audio/wav")
    assert replaced.json()["size"] == len(quiet_tone)
    job = await mp.wait(tenant, created.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["output"]["duration"] == pytest.approx(3.0, abs=0.1)  # the video's, not the tone's
    shown = await mp.http.get("/v1/media/inputs/x.mp4", headers=mp.headers(tenant))
    assert orjson.loads(shown.content)["content_type"] == "audio/wav"


async def test_a_refused_credit_hold_fails_the_transcode_before_encoding(
    mp: MediaApp, small_video: bytes
) -> None:
    settings = mp.settings.model_copy(update={"credits_per_minute": 5000})
    app = create_app(settings)
    async with running_app(app) as http:
        poor = MediaApp(app=app, http=http, settings=settings, billing=mp.billing)
        tenant = new_tenant()
        assert (await poor.put_input(tenant, "v.mp4", small_video)).status_code == 200
        job = await poor.run(tenant, {"input": "v.mp4", "operation": "transcode",
                                      "platform": "youtube"})  # fmt: skip
        assert job["status"] == "failed"
        assert job["error"]["type"] == "/problems/insufficient-credits"
        assert job["download"] is None
        assert (await poor.balance(tenant))[1] == 0
        events = await poor.events(job["id"])
        assert [e.type for e in events] == [MEDIA_JOB_FAILED]
        assert events[0].data["error"]["type"] == "insufficient-credits"
