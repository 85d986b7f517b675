"""Issue 14's "done means" for stored videos, through the gateway with an API key and no vendor
key: a tenant turns on automatic transcription, uploads a video that speaks (FFmpeg's test
picture with espeak-ng's speech) with tus, and once the video is ready reads its automatic
transcript (word timestamps, language), the video's own caption track (SRT and WebVTT, and the
subtitle rendition in its HLS playlist), captions made by media_processor (SRT, WebVTT, JSON),
and a clip of the video with the captions burnt in. Also a transcript of the same stored video
with ``backend: deepgram``, against the local fake Deepgram."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from pydantic import SecretStr
from tusclient import client as tus_client

from tests.support.speech import make_speaking_video
from v100.ai.asr import pcm_to_wav
from v100.ai.audio import load_pcm
from v100.ai.diarization import diarization_available
from v100.ai.testing import word_error_rate
from v100.kit.settings import PlatformSettings
from v100.kit.testing.fakes.deepgram import FakeDeepgram, SpokenWord
from v100.kit.testing.servers import serving
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.settings import BillingSettings
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.testing import INTERNAL_SECRET, PASSWORD, gateway_settings_for
from v100.services.media_processor.app import create_app as create_media_processor
from v100.services.media_processor.settings import MediaProcessorSettings
from v100.services.transcription.app import create_app as create_transcription
from v100.services.transcription.settings import TranscriptionSettings
from v100.services.video_processing.app import create_app as create_video_processing
from v100.services.video_processing.settings import VideoProcessingSettings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SPOKEN = "Welcome to the platform. Every video gets captions."
DEEPGRAM_KEY = "dg-e2e-key-0123456789"


@dataclass
class Stack:
    gateway: str
    http: httpx.AsyncClient  # to the gateway, with the tenant's API key
    deepgram: FakeDeepgram

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request through the gateway, waiting out the free tier's rate limit as told."""
        while True:
            answer = await self.http.request(method, path, **kwargs)
            if answer.status_code != 429:
                return answer
            await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))

    async def until(
        self, path: str, done: Any, within: float = 240.0, **params: Any
    ) -> dict[str, Any]:
        """GET ``path`` until ``done(body)``; the body."""
        deadline = time.monotonic() + within
        while True:
            answer = await self.call("GET", path, params=params)
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            if done(body):
                return body
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path}: {body}")
            await asyncio.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """gateway -> video_processing, transcription, media_processor, billing, each a real
    uvicorn server on loopback; transcription also reaches a fake Deepgram."""
    gateway_port = _free_port()
    platform = PlatformSettings(
        var_dir=tmp_path,
        internal_token_secret=INTERNAL_SECRET,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/{{service}}.db",
        storage_url=f"file://{tmp_path}/objects",
        public_url=f"http://127.0.0.1:{gateway_port}",
    )
    deepgram = FakeDeepgram(api_key=DEEPGRAM_KEY)
    async with (
        serving(deepgram.app, lifespan="off") as deepgram_url,
        serving(create_billing(BillingSettings(platform=platform)), ready=True) as billing,
    ):
        videos = VideoProcessingSettings(
            platform=platform, billing_url=billing, hls_segment_seconds=1.0
        )
        media = MediaProcessorSettings(platform=platform, billing_url=billing)
        async with (
            serving(create_video_processing(videos), ready=True) as video_processing,
            serving(create_media_processor(media), ready=True) as media_processor,
        ):
            transcribing = TranscriptionSettings(
                platform=platform, billing_url=billing, video_processing_url=video_processing,
                model_dir=tmp_path.parent / "models", deepgram_api_url=deepgram_url,
                deepgram_api_key=SecretStr(DEEPGRAM_KEY),
            )  # fmt: skip
            async with serving(create_transcription(transcribing), ready=True) as transcription:
                upstreams = {
                    "video_processing": video_processing,
                    "billing": billing,
                    "media_processor": media_processor,
                    "transcription": transcription,
                }
                gateway_settings = gateway_settings_for(
                    f"sqlite+aiosqlite:///{tmp_path}/gateway.db", tmp_path, upstreams=upstreams
                )
                async with (
                    serving(
                        create_gateway(gateway_settings), port=gateway_port, ready=True
                    ) as gateway,
                    httpx.AsyncClient(base_url=gateway, trust_env=False, timeout=60) as http,
                ):
                    yield Stack(gateway, http, deepgram)


async def _sign_up(stack: Stack) -> str:
    signup = await stack.http.post(
        "/v1/auth/signup",
        json={"email": f"t-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD,
              "tenant_name": "Captioned"},
    )  # fmt: skip
    assert signup.status_code == 201, signup.text
    token = signup.json()["access_token"]
    created = await stack.http.post(
        "/v1/api-keys",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": "e2e", "scopes": ["*"]},
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    stack.http.headers["X-API-Key"] = key
    return key


async def _upload(stack: Stack, key: str, source: Path) -> str:
    def tus() -> str:
        client = tus_client.TusClient(f"{stack.gateway}/v1/uploads", headers={"X-API-Key": key})
        uploader = client.uploader(str(source), chunk_size=1024 * 1024)
        uploader.upload()
        return str(uploader.url).rstrip("/").rsplit("/", 1)[1]

    return await asyncio.to_thread(tus)


async def _fetch(url: str, gateway: str) -> httpx.Response:
    """A URL the platform handed out (signed: no API key), absolute or on the gateway."""
    async with httpx.AsyncClient(trust_env=False, timeout=60) as player:
        answer = await player.get(url if "://" in url else f"{gateway}{url}")
    assert answer.status_code == 200, (url, answer.text[:200])
    return answer


async def test_a_spoken_video_is_transcribed_captioned_and_burnt_in_with_no_vendor_key(
    stack: Stack, tmp_path: Path
) -> None:
    started = time.monotonic()
    source = make_speaking_video(tmp_path / "talk.mp4", SPOKEN, width=320, height=240)
    key = await _sign_up(stack)
    enabled = await stack.call(
        "PUT", "/v1/transcription/settings", json={"auto_transcribe_videos": True}
    )
    assert enabled.status_code == 200, enabled.text

    upload_id = await _upload(stack, key, source)
    listed = await stack.until("/v1/videos", lambda b: b["items"], upload_id=upload_id)
    video_id = listed["items"][0]["id"]
    video = await stack.until(f"/v1/videos/{video_id}", lambda b: b["status"] != "processing")
    assert video["status"] == "ready", video["error"]

    # The automatic transcript: words with their times, and the language detected.
    found = await stack.until("/v1/transcripts", lambda b: b["items"])
    (summary,) = found["items"]
    assert (summary["automatic"], summary["source"]["video_id"]) == (True, video_id)
    transcript = await stack.until(
        f"/v1/transcripts/{summary['id']}", lambda b: b["status"] in ("completed", "failed")
    )
    assert transcript["status"] == "completed", transcript["error"]
    assert transcript["language"] == "en"
    assert word_error_rate(SPOKEN, transcript["text"]) <= 0.2, transcript["text"]
    document = transcript["document"]
    words = [w for segment in document["segments"] for w in segment["words"]]
    assert words
    for word in words:
        assert 0.0 <= word["start"] <= word["end"] <= document["duration"]
    assert words[0]["start"] == pytest.approx(0.5, abs=0.5)
    # Speakers where this installation has the diarization extra (one voice: one speaker), and
    # the same words as utterances and paragraphs.
    assert transcript["diarize"] is diarization_available()
    expected_speaker = 0 if diarization_available() else None
    assert {word["speaker"] for word in words} == {expected_speaker}
    assert sum(u["num_words"] for u in document["utterances"]) == len(words)
    assert document["paragraphs"]

    # The video's own caption track, as its tenant downloads it and as players get it.
    captions = f"/v1/videos/{video_id}/captions"
    tracks = await stack.until(captions, lambda b: b["items"])
    (track,) = tracks["items"]
    assert (track["language"], track["source"], track["transcript_id"]) == (
        "en", "generated", transcript["id"]
    )  # fmt: skip
    own_vtt = await stack.call("GET", f"{captions}/en.vtt")
    assert own_vtt.headers["content-type"].startswith("text/vtt")
    assert own_vtt.text.startswith("WEBVTT")
    assert "captions" in own_vtt.text.lower()
    own_srt = await stack.call("GET", f"{captions}/en.srt")
    assert own_srt.text.startswith("1\n00:00:0")
    played = (await stack.call("GET", f"/v1/videos/{video_id}")).json()["playback"]
    master = (await _fetch(played["hls"], stack.gateway)).text
    assert 'TYPE=SUBTITLES,GROUP-ID="subtitles"' in master
    base = played["hls"].rsplit("/", 1)[0]
    subtitles = (await _fetch(f"{base}/subtitles/en.m3u8", stack.gateway)).text
    assert "en.vtt" in subtitles
    assert (await _fetch(f"{base}/subtitles/en.vtt", stack.gateway)).text == own_vtt.text

    # Captions from media_processor in each format.
    made: dict[str, httpx.Response] = {}
    for kind in ("srt", "vtt", "json"):
        made[kind] = await stack.call(
            "POST", "/v1/captions", json={"transcript": document, "format": kind}
        )
        assert made[kind].status_code == 200, made[kind].text
    assert made["srt"].text == own_srt.text
    assert made["vtt"].text == own_vtt.text
    cues = made["json"].json()["cues"]
    assert " ".join(cue["text"] for cue in cues).lower().startswith("welcome")

    # A clip of the video, with the captions burnt in.
    clip = await stack.call(
        "POST", "/v1/clips", json={"video_id": video_id, "start": 0.0, "end": 3.0}
    )
    assert clip.status_code == 202, clip.text
    clip_done = await stack.until(
        f"/v1/clips/{clip.json()['id']}", lambda b: b["status"] != "processing"
    )
    assert clip_done["status"] == "ready", clip_done["error"]
    clip_bytes = (await _fetch(clip_done["download_url"], stack.gateway)).content
    put = await stack.call(
        "PUT", "/v1/media/inputs/clip.mp4", content=clip_bytes,
        headers={"Content-Type": "video/mp4"},
    )  # fmt: skip
    assert put.status_code in (200, 201), put.text
    burn = await stack.call(
        "POST", "/v1/captions/burn-in",
        json={"input": "clip.mp4", "transcript": document, "style": {"font_size": 24}},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert burn.status_code == 202, burn.text
    job = await stack.until(
        f"/v1/media/jobs/{burn.json()['id']}", lambda b: b["status"] in ("succeeded", "failed")
    )
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["cues"] >= 1
    burnt = tmp_path / "burnt.mp4"
    burnt.write_bytes((await _fetch(job["download"]["url"], stack.gateway)).content)
    with av.open(str(burnt)) as container:
        assert container.duration / 1e6 == pytest.approx(3.0, abs=0.3)
        assert next(container.decode(video=0)).width == 320
    print(
        f"\nspoken video to burnt-in clip through the gateway: {time.monotonic() - started:.1f} s"
    )

    # The same stored video through Deepgram (the local fake, told what the audio says).
    m4a = tmp_path / "audio.m4a"
    m4a.write_bytes((await _fetch(played["m4a"], stack.gateway)).content)
    pcm = await asyncio.to_thread(load_pcm, m4a)
    said = [SpokenWord("Welcome", 0.6, 1.0, speaker=0), SpokenWord("aboard.", 1.1, 1.6, speaker=1)]
    stack.deepgram.register(pcm_to_wav(pcm), said)
    created = await stack.call(
        "POST", "/v1/transcripts",
        json={"source": {"video_id": video_id}, "backend": "deepgram"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert created.status_code == 202, created.text
    via_deepgram = await stack.until(
        f"/v1/transcripts/{created.json()['id']}", lambda b: b["status"] in ("completed", "failed")
    )
    assert via_deepgram["status"] == "completed", via_deepgram["error"]
    assert via_deepgram["backend"] == "deepgram"
    spoken = [w for s in via_deepgram["document"]["segments"] for w in s["words"]]
    assert [(w["word"], w["start"], w["speaker"]) for w in spoken] == [
        ("Welcome", 0.6, 0), ("aboard.", 1.1, 1)
    ]  # fmt: skip
    assert stack.deepgram.requests[-1].authorization == f"Token {DEEPGRAM_KEY}"
