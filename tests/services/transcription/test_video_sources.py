"""Stored-video sources and automatic transcripts on both backends, next to a real
video_processing app served on loopback (transcription reads it over HTTP with the platform
scope ``service:videos``): a ready video with speech transcribed from its audio; an unknown or
another tenant's video refused at once (404), one not ready or without audio too (409); a video
deleted before the job runs failing the transcript clearly; the tenant's settings (its own, and
scoped); automatic transcripts made once per ready video only for tenants who asked, their
captions attached to the video."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services.video_processing.support import VideoApp
from tests.support.billed import Backend
from tests.support.speech import make_speaking_video
from v100.ai.testing import word_error_rate
from v100.contracts.events import TRANSCRIPT_COMPLETED, VIDEO_READY, VIDEO_STREAM
from v100.kit.auth import Principal
from v100.kit.bus import Message
from v100.kit.db import drop_database
from v100.kit.testing.bus import published
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.http import auth_headers, running_app
from v100.kit.testing.servers import dead_url, serving
from v100.media.testing import make_video
from v100.services.transcription.app import create_app
from v100.services.transcription.auto import AutoTranscripts
from v100.services.transcription.settings import TranscriptionSettings
from v100.services.video_processing.app import create_app as create_video_processing
from v100.services.video_processing.settings import VideoProcessingSettings

from .conftest import SPOKEN
from .support import TranscriptionApp, new_tenant

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def speaking_video(media_dir: Path) -> Path:
    return make_speaking_video(media_dir / "speaking.mp4", SPOKEN)


@dataclass
class Stack:
    ts: TranscriptionApp
    vp: VideoApp

    async def ready_video(self, tenant: str, source: Path) -> dict[str, Any]:
        upload_id = await self.vp.tus_upload(tenant, source)
        video = await self.vp.wait(tenant, (await self.vp.video_of_upload(tenant, upload_id))["id"])
        assert video["status"] == "ready", video
        return video

    async def automatic(self, tenant: str, within: float = 60.0) -> list[dict[str, Any]]:
        """The tenant's transcripts once it has one (the consumer has made it)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            listed = await self.ts.http.get("/v1/transcripts", headers=self.ts.headers(tenant))
            items: list[dict[str, Any]] = listed.json()["items"]
            if items:
                return items
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("no automatic transcript")
            await asyncio.sleep(0.1)

    async def enable(self, tenant: str, **settings: Any) -> None:
        answer = await self.ts.http.put(
            "/v1/transcription/settings",
            json={"auto_transcribe_videos": True, **settings},
            headers=self.ts.headers(tenant),
        )
        assert answer.status_code == 200, answer.text


@pytest.fixture
async def stack(
    backend: Backend, billing_url: str, ts_settings: TranscriptionSettings
) -> AsyncIterator[Stack]:
    """transcription (in process) and video_processing (on loopback) on one backend, each with
    its own database, sharing the internal secret and the session's billing app."""
    database_url = None
    if backend.name == "distributed":
        admin = postgres_admin_url()
        assert admin is not None
        database_url = fresh_postgres_url(admin)
    vp_settings = VideoProcessingSettings(
        platform=backend.platform, billing_url=billing_url, database_url=database_url,
        public_base_url="http://service", hls_segment_seconds=1.0,
    )  # fmt: skip
    vp_app = create_video_processing(vp_settings)
    try:
        async with (
            serving(vp_app, ready=True) as vp_url,
            httpx.AsyncClient(base_url=vp_url, trust_env=False, timeout=30) as vp_http,
        ):
            settings = ts_settings.model_copy(update={"video_processing_url": vp_url})
            app = create_app(settings)
            async with running_app(app) as http:
                yield Stack(
                    TranscriptionApp(app=app, http=http, settings=settings, billing=billing_url),
                    VideoApp(app=vp_app, http=vp_http, settings=vp_settings, billing=billing_url),
                )
    finally:
        if database_url is not None:
            await drop_database(database_url)


async def test_a_stored_video_is_transcribed_from_its_audio(
    stack: Stack, speaking_video: Path
) -> None:
    ts, tenant = stack.ts, new_tenant()
    video = await stack.ready_video(tenant, speaking_video)
    created = await ts.from_url(tenant, {"source": {"video_id": video["id"]}, "language": "en"})
    assert created.status_code == 202, created.text
    assert created.json()["source"]["kind"] == "video"
    done = await ts.wait(tenant, created.json()["id"])

    assert done["status"] == "completed", done
    assert done["source"] == {"kind": "video", "url": None, "video_id": video["id"],
                              "name": None, "content_type": None, "size": None,
                              "session_id": None}  # fmt: skip
    assert done["automatic"] is False
    assert word_error_rate(SPOKEN, done["text"]) <= 0.15, done["text"]
    words = [w for segment in done["document"]["segments"] for w in segment["words"]]
    assert words[0]["start"] == pytest.approx(0.5, abs=0.5)
    assert done["duration"] == pytest.approx(video["duration"], abs=0.2)
    (event,) = await ts.events(done["id"])
    assert event.type == TRANSCRIPT_COMPLETED
    assert event.data["video_id"] == video["id"]
    assert event.data["source"] == "video"
    # Only an automatic transcript captions its video.
    tracks = await stack.vp.http.get(
        f"/v1/videos/{video['id']}/captions", headers=stack.vp.headers(tenant)
    )
    assert tracks.json()["items"] == []


async def test_a_video_that_cannot_be_transcribed_is_refused_at_once(
    stack: Stack, media_dir: Path
) -> None:
    ts, tenant, other = stack.ts, new_tenant(), new_tenant()
    mute = make_video(media_dir / "mute.mp4", seconds=2, audio=False)
    silent = await stack.ready_video(tenant, mute)
    theirs = await stack.ready_video(other, mute)
    importing = await stack.vp.http.post(
        "/v1/videos",
        json={"input_url": "https://media.invalid/talk.mp4"},
        headers=stack.vp.headers(tenant),
    )
    assert importing.json()["status"] == "uploading"

    cases = [
        (str(uuid.uuid4()), 404, "video-not-found"),
        (theirs["id"], 404, "video-not-found"),
        (importing.json()["id"], 409, "video-not-ready"),
        (silent["id"], 409, "video-has-no-audio"),
    ]
    for video_id, status, kind in cases:
        answer = await ts.from_url(tenant, {"source": {"video_id": video_id}})
        assert answer.status_code == status, answer.text
        assert answer.json()["type"] == f"/problems/{kind}"
    for body in ({"source": {"video_id": ""}}, {"source": {"video_id": "x", "url": "https://a"}}):
        assert (await ts.from_url(tenant, body)).status_code == 422
    listed = await ts.http.get("/v1/transcripts", headers=ts.headers(tenant))
    assert listed.json()["items"] == []


async def test_settings_are_the_tenants_own_and_scoped(stack: Stack) -> None:
    ts, tenant, other = stack.ts, new_tenant(), new_tenant()
    path = "/v1/transcription/settings"
    defaults = await ts.http.get(path, headers=ts.headers(tenant))
    assert defaults.status_code == 200
    assert defaults.json() == {"auto_transcribe_videos": False, "auto_language": None,
                               "auto_backend": None, "updated_at": None}  # fmt: skip
    body = {"auto_transcribe_videos": True, "auto_language": "en", "auto_backend": "local"}
    changed = await ts.http.put(path, json=body, headers=ts.headers(tenant))
    assert changed.status_code == 200, changed.text
    assert (await ts.http.get(path, headers=ts.headers(tenant))).json() == changed.json()
    assert changed.json()["updated_at"] is not None
    # "auto" is detection, stored as no language; omitted fields take their defaults.
    again = await ts.http.put(
        path, json={"auto_transcribe_videos": True, "auto_language": "auto"},
        headers=ts.headers(tenant),
    )  # fmt: skip
    assert again.json()["auto_language"] is None
    assert again.json()["auto_backend"] is None

    assert (await ts.http.get(path, headers=ts.headers(other))).json() == defaults.json()
    reader = Principal(tenant_id=tenant, user_id="u2", scopes=frozenset({"transcripts:read"}))
    refused = await ts.http.put(path, json=body, headers=auth_headers(ts.app, reader))
    assert refused.status_code == 403
    assert (await ts.http.get(path, headers=auth_headers(ts.app, reader))).status_code == 200
    wrongs = [({"auto_backend": "whisperx"}, 422), ({"auto_backend": "deepgram"}, 501),
              ({"auto_language": "English"}, 422), ({"colour": "red"}, 422)]  # fmt: skip
    for wrong, status in wrongs:
        answer = await ts.http.put(path, json=wrong, headers=ts.headers(tenant))
        assert answer.status_code == status, (wrong, answer.text)
    assert (await ts.http.get(path, headers=ts.headers(tenant))).json() == again.json()


async def test_ready_videos_are_transcribed_and_captioned_when_the_tenant_asked(
    stack: Stack, speaking_video: Path
) -> None:
    ts, asked, silent = stack.ts, new_tenant(), new_tenant()
    await stack.enable(asked, auto_language="en")
    # The tenant that did not ask uploads first: once the consumer has made the other's
    # transcript, it has handled this one's video.ready too.
    unasked = await stack.ready_video(silent, speaking_video)
    video = await stack.ready_video(asked, speaking_video)
    (made,) = await stack.automatic(asked)
    assert (made["automatic"], made["source"]["video_id"]) == (True, video["id"])
    assert made["language_requested"] == "en"
    none = await ts.http.get("/v1/transcripts", headers=ts.headers(silent))
    assert none.json()["items"] == []
    assert unasked["status"] == "ready"

    # The same video.ready again (a redelivery): no second transcript.
    (ready,) = await published(
        ts.app.state.runtime.bus, VIDEO_STREAM,
        lambda event: event.type == VIDEO_READY and event.data.get("id") == video["id"],
    )  # fmt: skip
    auto = ts.app.state.runtime.get(AutoTranscripts)
    await auto.handle(Message(id="0-1", stream=VIDEO_STREAM, event=ready, delivery_count=2))
    listed = await ts.http.get("/v1/transcripts", headers=ts.headers(asked))
    assert [item["id"] for item in listed.json()["items"]] == [made["id"]]

    done = await ts.wait(asked, made["id"])
    assert done["status"] == "completed", done
    assert word_error_rate(SPOKEN, done["text"]) <= 0.15, done["text"]
    (event,) = await ts.events(done["id"])
    assert (event.data["automatic"], event.data["video_id"]) == (True, video["id"])

    # Its captions reach the video: listed, served, and in the HLS master playlist.
    captions = f"/v1/videos/{video['id']}/captions"
    track = await _track(stack, asked, captions)
    assert (track["language"], track["transcript_id"], track["source"]) == (
        "en", done["id"], "generated"
    )  # fmt: skip
    vtt = await stack.vp.http.get(f"{captions}/en.vtt", headers=stack.vp.headers(asked))
    assert vtt.text.startswith("WEBVTT")
    assert "quick brown fox" in vtt.text.lower()
    srt = await stack.vp.http.get(f"{captions}/en.srt", headers=stack.vp.headers(asked))
    assert srt.text.startswith("1\n00:00:0")


async def _track(stack: Stack, tenant: str, path: str, within: float = 60.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        listed = await stack.vp.http.get(path, headers=stack.vp.headers(tenant))
        assert listed.status_code == 200, listed.text
        if listed.json()["items"]:
            track: dict[str, Any] = listed.json()["items"][0]
            return track
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("no caption track")
        await asyncio.sleep(0.2)


async def test_a_video_deleted_before_its_job_runs_fails_the_transcript_clearly(
    stack: Stack, media_dir: Path
) -> None:
    """A video.ready handled after its video was deleted (a redelivery, a consumer behind):
    the automatic transcript is made, and its job fails it ``video-deleted``, charging
    nothing."""
    ts, tenant = stack.ts, new_tenant()
    video = await stack.ready_video(tenant, make_video(media_dir / "short.mp4", seconds=2))
    (ready,) = await published(
        ts.app.state.runtime.bus, VIDEO_STREAM,
        lambda event: event.type == VIDEO_READY and event.data.get("id") == video["id"],
    )  # fmt: skip
    deleted = await stack.vp.http.delete(
        f"/v1/videos/{video['id']}", headers=stack.vp.headers(tenant)
    )
    assert deleted.status_code == 204
    # Asked for only now: whoever handles the event, the video is gone by then.
    await stack.enable(tenant)
    auto = ts.app.state.runtime.get(AutoTranscripts)
    await auto.handle(Message(id="0-1", stream=VIDEO_STREAM, event=ready, delivery_count=2))
    (made,) = await stack.automatic(tenant)
    done = await ts.wait(tenant, made["id"])
    assert done["status"] == "failed", done
    assert done["error"]["type"] == "/problems/video-deleted"
    assert video["id"] in done["error"]["detail"]
    assert done["credits_charged"] is None
    assert (await ts.balance(tenant))[1] == 0


async def test_a_rerun_reads_the_stored_copy_not_the_video_again(
    stack: Stack, speaking_video: Path
) -> None:
    """Billing away for every attempt: each run decodes the audio and is refused the hold; the
    video's audio was read from video_processing by the first run only."""
    tenant = new_tenant()
    video = await stack.ready_video(tenant, speaking_video)
    settings = stack.ts.settings.model_copy(update={"billing_url": dead_url()})
    app = create_app(settings)
    async with running_app(app) as http:
        ts = TranscriptionApp(app=app, http=http, settings=settings, billing=settings.billing_url)
        created = await ts.from_url(tenant, {"source": {"video_id": video["id"]}})
        assert created.status_code == 202, created.text
        done = await ts.wait(tenant, created.json()["id"], within=120)
    assert done["status"] == "failed", done
    assert done["error"]["type"] == "/problems/billing-unavailable"
    reads = stack.vp.app.state.runtime.metrics.registry.get_sample_value(
        "v100_http_requests_total",
        {"service": "video_processing", "method": "GET",
         "route": "/v1/videos/{video_id}/audio/content", "status": "200"},
    )  # fmt: skip
    assert reads == 1
