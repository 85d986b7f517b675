"""Transcripts end to end on both backends, with the real local Whisper backend and real
billing: espeak-ng speech from known text transcribed with word timestamps and the language
detected, silence giving no text, bad media and refused URLs failing clearly, credits held and
captured per started minute, events, idempotency and tenancy."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from v100.ai.asr import pcm_to_wav
from v100.ai.audio import load_pcm
from v100.ai.testing import word_error_rate
from v100.contracts.events import TRANSCRIPT_COMPLETED, TRANSCRIPT_FAILED
from v100.kit.testing.fakes.deepgram import FakeDeepgram, SpokenWord
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import serving
from v100.services.transcription.app import create_app
from v100.services.transcription.settings import TranscriptionSettings

from .conftest import SPOKEN
from .support import TranscriptionApp, new_tenant

pytestmark = pytest.mark.slow  # the model loads once per app


async def test_speech_is_transcribed_with_word_timings_language_credits_and_an_event(
    ts: TranscriptionApp, speech: bytes
) -> None:
    tenant = new_tenant()
    available, _ = await ts.balance(tenant)
    done = await ts.transcribe(tenant, speech, name="standup.wav")

    assert done["status"] == "completed", done
    assert done["source"] == {"kind": "upload", "url": None, "video_id": None,
                              "name": "standup.wav", "content_type": "audio/wav",
                              "size": len(speech)}  # fmt: skip
    assert done["backend"] == "local"
    assert word_error_rate(SPOKEN, done["text"]) <= 0.15, done["text"]
    assert done["language"] == "en"
    assert done["language_probability"] > 0.5
    document = done["document"]
    assert document["text"] == done["text"]
    duration = document["duration"]
    assert duration == pytest.approx(done["duration"])
    assert 5.0 < duration < 15.0
    words = [word for segment in document["segments"] for word in segment["words"]]
    assert done["word_count"] == len(words) == pytest.approx(len(SPOKEN.split()), abs=2)
    # Every word has its own time within the audio, in order; speech starts after the second
    # of silence and ends before the last one.
    for word in words:
        assert 0.0 <= word["start"] <= word["end"] <= duration
        assert 0.0 <= word["confidence"] <= 1.0
    starts = [word["start"] for word in words]
    assert starts == sorted(starts)
    assert words[0]["word"].strip(".,").lower() == "the"
    assert words[0]["start"] == pytest.approx(1.0, abs=0.5)
    assert words[-1]["end"] == pytest.approx(duration - 1.0, abs=0.6)

    # One started minute of audio, held then captured once.
    assert done["credits_charged"] == 1
    assert await ts.balance(tenant) == (available - 1, 0)
    events = await ts.events(done["id"])
    assert [event.type for event in events] == [TRANSCRIPT_COMPLETED]
    assert events[0].tenant_id == tenant
    assert events[0].data["word_count"] == len(words)
    assert events[0].data["language"] == "en"


async def test_silence_completes_with_no_text(ts: TranscriptionApp, silence: bytes) -> None:
    tenant = new_tenant()
    done = await ts.transcribe(tenant, silence)
    assert done["status"] == "completed", done
    assert done["text"] == ""
    assert done["document"]["segments"] == []
    assert done["word_count"] == 0
    assert done["language"] is None
    assert done["duration"] == pytest.approx(8.0, abs=0.1)


async def test_bad_media_fails_clearly_and_costs_nothing(ts: TranscriptionApp) -> None:
    tenant = new_tenant()
    available, _ = await ts.balance(tenant)
    done = await ts.transcribe(tenant, b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    assert done["status"] == "failed", done
    assert done["error"]["type"] in ("/problems/source-unreadable", "/problems/source-unsupported")
    assert done["error"]["detail"]
    assert done["document"] is None
    assert done["credits_charged"] is None
    assert await ts.balance(tenant) == (available, 0)
    events = await ts.events(done["id"])
    assert [event.type for event in events] == [TRANSCRIPT_FAILED]
    assert events[0].data["error"]["type"] == done["error"]["type"].removeprefix("/problems/")

    empty = await ts.upload(tenant, b"")
    assert empty.status_code == 422, empty.text
    assert empty.json()["type"].endswith("/transcript-source-empty")


async def test_requests_that_are_refused_at_once(ts: TranscriptionApp) -> None:
    tenant = new_tenant()
    loopback = await ts.from_url(tenant, {"source": {"url": "http://127.0.0.1:9/talk.wav"}})
    assert loopback.status_code == 400, loopback.text
    assert loopback.json()["type"].endswith("/url-not-allowed")
    private = await ts.from_url(tenant, {"source": {"url": "http://10.1.2.3/talk.wav"}})
    assert private.status_code == 400, private.text
    ftp = await ts.from_url(tenant, {"source": {"url": "ftp://example.org/talk.wav"}})
    assert ftp.status_code == 422, ftp.text
    unknown = await ts.from_url(
        tenant, {"source": {"url": "https://example.org/a.wav"}, "backend": "nope"}
    )
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["type"].endswith("/transcript-backend-unknown")
    language = await ts.upload(tenant, b"x", language="English")
    assert language.status_code == 422, language.text
    listed = await ts.http.get("/v1/transcripts", headers=ts.headers(tenant))
    assert listed.json() == {"items": [], "next_cursor": None}


async def test_a_url_source_is_fetched_when_its_network_is_allowed(
    ts: TranscriptionApp, speech: bytes
) -> None:
    async def talk(request: Request) -> Response:
        return Response(speech, media_type="audio/wav")

    settings = ts.settings.model_copy(update={"url_allow_cidrs": ["127.0.0.0/8"]})
    app = create_app(settings)
    async with (
        serving(Starlette(routes=[Route("/talk.wav", talk)])) as origin,
        running_app(app) as http,
    ):
        allowed = TranscriptionApp(app=app, http=http, settings=settings, billing=ts.billing)
        tenant = new_tenant()
        created = await allowed.from_url(
            tenant, {"source": {"url": f"{origin}/talk.wav"}, "language": "en"}
        )
        assert created.status_code == 202, created.text
        assert created.json()["status"] == "queued"
        done = await allowed.wait(tenant, created.json()["id"])
        missing = await allowed.from_url(tenant, {"source": {"url": f"{origin}/gone.wav"}})
        gone = await allowed.wait(tenant, missing.json()["id"])

    assert done["status"] == "completed", done
    assert done["source"]["kind"] == "url"
    assert done["language_requested"] == "en"
    assert done["language"] == "en"
    assert done["language_probability"] == 1.0
    assert word_error_rate(SPOKEN, done["text"]) <= 0.15, done["text"]
    assert gone["status"] == "failed"
    assert gone["error"]["type"] == "/problems/url-fetch-failed"


async def test_create_is_idempotent_and_transcripts_belong_to_their_tenant(
    ts: TranscriptionApp, silence: bytes
) -> None:
    tenant, other = new_tenant(), new_tenant()
    key = uuid.uuid4().hex
    first = await ts.upload(tenant, silence, key=key)
    again = await ts.upload(tenant, silence, key=key)
    assert first.status_code == again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"]
    changed = await ts.upload(tenant, silence + b"\x00\x00", key=key)
    assert changed.status_code == 409, changed.text
    transcript_id = first.json()["id"]
    await ts.wait(tenant, transcript_id)

    listed = await ts.http.get("/v1/transcripts", headers=ts.headers(tenant))
    assert [item["id"] for item in listed.json()["items"]] == [transcript_id]
    assert listed.json()["items"][0]["document"] is None  # lists carry no documents
    for method in ("GET", "DELETE"):
        answer = await ts.http.request(
            method, f"/v1/transcripts/{transcript_id}", headers=ts.headers(other)
        )
        assert answer.status_code == 404, (method, answer.text)
    theirs = await ts.http.get("/v1/transcripts", headers=ts.headers(other))
    assert theirs.json()["items"] == []

    deleted = await ts.http.delete(f"/v1/transcripts/{transcript_id}", headers=ts.headers(tenant))
    assert deleted.status_code == 204
    gone = await ts.http.get(f"/v1/transcripts/{transcript_id}", headers=ts.headers(tenant))
    assert gone.status_code == 404


async def test_the_deepgram_backend_answers_through_the_same_transcript(
    ts_settings: TranscriptionSettings, speech: bytes, tmp_path: Path
) -> None:
    """``backend=deepgram`` with a key configured: the audio goes to (a local fake of) Deepgram,
    whose words and speakers come back in the same document; without a key, 501."""
    source = tmp_path / "speech.wav"
    source.write_bytes(speech)
    pcm = await asyncio.to_thread(load_pcm, source)
    said = [SpokenWord("Hello,", 1.0, 1.4, speaker=0), SpokenWord("world.", 1.5, 1.9, speaker=1)]
    fake = FakeDeepgram(api_key="dg-test-key")
    fake.register(pcm_to_wav(pcm), said)
    async with serving(fake.app, lifespan="off") as url:
        settings = ts_settings.model_copy(
            update={"deepgram_api_key": SecretStr("dg-test-key"), "deepgram_api_url": url}
        )
        app = create_app(settings)
        async with running_app(app) as http:
            ts = TranscriptionApp(
                app=app, http=http, settings=settings, billing=settings.billing_url
            )
            tenant = new_tenant()
            created = await ts.upload(tenant, speech, backend="deepgram")
            assert created.status_code == 202, created.text
            done = await ts.wait(tenant, created.json()["id"])
    assert done["status"] == "completed", done
    words = [w for s in done["document"]["segments"] for w in s["words"]]
    assert [(w["word"], w["start"], w["speaker"]) for w in words] == [
        ("Hello,", 1.0, 0),
        ("world.", 1.5, 1),
    ]
    assert fake.requests[-1].params["model"] == "nova-2"
    assert fake.requests[-1].authorization == "Token dg-test-key"


async def test_the_deepgram_backend_without_a_key_is_not_configured(
    ts: TranscriptionApp, speech: bytes
) -> None:
    tenant = new_tenant()
    answer = await ts.upload(tenant, speech, backend="deepgram")
    assert answer.status_code == 501, answer.text
    assert answer.json()["type"].endswith("not-configured")
