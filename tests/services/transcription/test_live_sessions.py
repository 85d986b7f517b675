"""Live sessions end to end on both backends, over a real socket (uvicorn on loopback): a session
made over REST, espeak-ng speech streamed into its WebSocket in 100 ms chunks at real-time pace,
interim then final results in Deepgram's shape, the final transcript stored and charged; Opus
in Ogg; KeepAlive holding an idle stream open where nothing at all closes it with the reason;
a socket dropped mid-stream keeping what was heard; stop over REST; undecodable audio; the
deepgram backend relayed to the fake Deepgram; options refused, the tenant's limit, tenancy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from pydantic import SecretStr
from websockets.exceptions import ConnectionClosed, InvalidStatus

from v100.ai.asr import pcm_to_wav
from v100.ai.audio import SAMPLE_RATE
from v100.ai.testing import Utterance, espeak_ng, make_speech, make_utterances, word_error_rate
from v100.contracts.events import TRANSCRIPT_COMPLETED
from v100.kit.testing.fakes.deepgram import FakeDeepgram, SpokenWord
from v100.kit.testing.servers import serving
from v100.services.transcription.app import create_app
from v100.services.transcription.settings import TranscriptionSettings

from .support import (
    Conversation,
    TranscriptionApp,
    linear16,
    listen,
    new_tenant,
    send_audio,
)

pytestmark = pytest.mark.slow  # the model loads once per app

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "We meet every morning to plan the work of the day.",
]


@pytest.fixture(scope="module")
def dialogue(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, list[Utterance]]:
    if espeak_ng() is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    return make_utterances(tmp_path_factory.mktemp("live-speech"), TEXTS, pause=1.5)


@dataclass
class LiveApp(TranscriptionApp):
    url: str = ""

    def ws_url(self, session: dict[str, Any]) -> str:
        return self.url.replace("http://", "ws://") + session["stream_path"]

    async def create(self, tenant_id: str, **options: Any) -> dict[str, Any]:
        answer = await self.http.post(
            "/v1/transcription-sessions", json=options,
            headers=self.headers(tenant_id, **{"Idempotency-Key": uuid.uuid4().hex}),
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    async def session(self, tenant_id: str, session_id: str) -> dict[str, Any]:
        answer = await self.http.get(
            f"/v1/transcription-sessions/{session_id}", headers=self.headers(tenant_id)
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def transcript(self, tenant_id: str, transcript_id: str) -> dict[str, Any]:
        answer = await self.http.get(
            f"/v1/transcripts/{transcript_id}", headers=self.headers(tenant_id)
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    @contextlib.asynccontextmanager
    async def connect(
        self, tenant_id: str, session: dict[str, Any]
    ) -> AsyncIterator[websockets.ClientConnection]:
        async with websockets.connect(
            self.ws_url(session), additional_headers=self.headers(tenant_id), proxy=None,
            open_timeout=30, close_timeout=30, max_size=None,
        ) as socket:  # fmt: skip
            yield socket


async def wait_settled(live: LiveApp, tenant: str, session_id: str) -> dict[str, Any]:
    for _ in range(600):
        session = await live.session(tenant, session_id)
        if session["status"] in ("closed", "failed"):
            return session
        await asyncio.sleep(0.1)
    raise TimeoutError(f"session still {session['status']}")


@contextlib.asynccontextmanager
async def live_app(settings: TranscriptionSettings) -> AsyncIterator[LiveApp]:
    app = create_app(settings)
    async with (
        serving(app, ready=True) as url,
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):
        yield LiveApp(app=app, http=http, settings=settings, billing=settings.billing_url, url=url)


@pytest.fixture
def live_settings(ts_settings: TranscriptionSettings) -> TranscriptionSettings:
    # A stop waits for the flush, which decodes on a loaded machine for seconds.
    return ts_settings.model_copy(
        update={"live_heartbeat_seconds": 0.2, "live_stop_wait_seconds": 45.0}
    )


@pytest.fixture
async def live(live_settings: TranscriptionSettings) -> AsyncIterator[LiveApp]:
    async with live_app(live_settings) as made:
        yield made


# --- speech -------------------------------------------------------------------------------------


async def test_speech_streamed_live_gives_interim_then_final_results_and_a_transcript(
    live: LiveApp, dialogue: tuple[np.ndarray, list[Utterance]]
) -> None:
    pcm, spoken = dialogue
    tenant = new_tenant()
    available, _ = await live.balance(tenant)
    created = await live.create(tenant, language="en")
    assert created["status"] == "created"
    assert created["backend"] == "local"
    assert created["stream_path"] == f"/v1/transcription-sessions/{created['id']}/stream"
    assert created["options"] == {
        "language": "en", "encoding": "linear16", "sample_rate": 16000, "channels": 1,
        "interim_results": True, "endpointing": 300, "utterance_end_ms": 1000,
        "vad_events": True, "idle_timeout": 10.0,
    }  # fmt: skip

    heard = Conversation()
    # The model loads as the first stream of the process opens: silence meanwhile, so the
    # speech's interim results do not wait for it.
    lead = np.zeros(3 * SAMPLE_RATE, dtype=np.float32)
    async with live.connect(tenant, created) as socket:
        listener = asyncio.create_task(listen(socket, heard))
        streaming = await live.session(tenant, created["id"])
        await send_audio(socket, linear16(np.concatenate([lead, pcm])))
        await socket.send(json.dumps({"type": "CloseStream"}))
        await listener
    assert streaming["status"] == "streaming"
    assert heard.code == 1000, heard.reason

    kinds = [m["type"] for m in heard.messages]
    assert kinds[0] == "SpeechStarted"
    assert kinds[-1] == "Metadata"
    finals = heard.finals
    assert len(finals) == 2, [Conversation.text(m) for m in finals]
    for result, utterance in zip(finals, spoken, strict=True):
        assert result["speech_final"] is True
        assert word_error_rate(utterance.text, Conversation.text(result)) <= 0.25
        words = Conversation.words(result)
        assert words[0]["start"] == pytest.approx(3.0 + utterance.start, abs=0.4)
        assert words[-1]["end"] == pytest.approx(3.0 + utterance.end, abs=0.4)
        assert set(words[0]) == {"word", "start", "end", "confidence", "punctuated_word"}
    first_final = heard.messages.index(finals[0])
    interims = [m for m in heard.messages[:first_final] if m["type"] == "Results"]
    assert interims
    assert not any(m["is_final"] for m in interims)
    ends = heard.of("UtteranceEnd")
    assert [m["last_word_end"] for m in ends] == [Conversation.words(r)[-1]["end"] for r in finals]
    metadata = heard.messages[-1]
    assert metadata["request_id"] == created["id"]
    seconds = 3.0 + pcm.size / SAMPLE_RATE
    assert metadata["duration"] == pytest.approx(seconds, abs=0.01)
    assert metadata["channels"] == 1

    session = await wait_settled(live, tenant, created["id"])
    assert session["status"] == "closed"
    assert session["ended"] == {"reason": "close-stream", "detail": "The client closed the stream.",
                                "close_code": 1000}  # fmt: skip
    assert session["error"] is None
    assert session["audio_seconds"] == pytest.approx(seconds, abs=0.01)
    assert session["bytes_received"] == 2 * (lead.size + pcm.size)
    assert session["final_results"] == 2
    assert session["interim_results"] >= 1
    assert session["final_latency"]["median_ms"] > 0
    assert session["credits_charged"] == 1  # one started minute
    assert await live.balance(tenant) == (available - 1, 0)

    transcript = await live.transcript(tenant, session["transcript_id"])
    assert transcript["status"] == "completed"
    assert transcript["source"]["kind"] == "live"
    assert transcript["source"]["session_id"] == created["id"]
    assert transcript["backend"] == "local"
    assert transcript["language"] == "en"
    assert word_error_rate(" ".join(TEXTS), transcript["text"]) <= 0.2
    assert transcript["duration"] == pytest.approx(session["audio_seconds"], abs=0.01)
    assert transcript["credits_charged"] == 1
    segments = transcript["document"]["segments"]
    assert [s["text"] for s in segments] == [Conversation.text(r) for r in finals]
    events = await live.events(transcript["id"])
    assert [event.type for event in events] == [TRANSCRIPT_COMPLETED]
    assert events[0].data["source"] == "live"


async def test_opus_in_ogg_is_decoded_as_it_streams(
    live: LiveApp, dialogue: tuple[np.ndarray, list[Utterance]], tmp_path: Path
) -> None:
    pcm, _ = dialogue
    wav = tmp_path / "dialogue.wav"
    wav.write_bytes(pcm_to_wav(pcm))
    ogg = make_speech(tmp_path / "said.ogg", TEXTS[1], sample_rate=48_000, codec="libopus",
                      silence_before=0.5, silence_after=1.5)  # fmt: skip
    tenant = new_tenant()
    created = await live.create(tenant, encoding="opus", language="en", interim_results=False)
    assert created["options"]["sample_rate"] is None
    heard = Conversation()
    data = ogg.read_bytes()
    async with live.connect(tenant, created) as socket:
        listener = asyncio.create_task(listen(socket, heard))
        # About real time: the file's bytes over its length (about 4.5 s).
        await send_audio(socket, data, step=1000, pace=len(data) / 4.5 / 2 / SAMPLE_RATE)
        await socket.send(json.dumps({"type": "CloseStream"}))
        await listener
    assert heard.code == 1000, heard.reason
    assert [m["is_final"] for m in heard.of("Results")] == [True] * len(heard.of("Results"))
    text = " ".join(Conversation.text(m) for m in heard.finals)
    assert word_error_rate(TEXTS[1], text) <= 0.2, text
    session = await wait_settled(live, tenant, created["id"])
    assert session["bytes_received"] == len(data)
    assert session["audio_seconds"] == pytest.approx(heard.messages[-1]["duration"], abs=0.01)


# --- faults -------------------------------------------------------------------------------------


async def test_keepalive_holds_an_idle_stream_open_and_nothing_at_all_closes_it(
    live: LiveApp,
) -> None:
    tenant = new_tenant()
    available, _ = await live.balance(tenant)
    kept = await live.create(tenant, idle_timeout=1)
    kept_heard = Conversation()
    async with live.connect(tenant, kept) as socket:
        listener = asyncio.create_task(listen(socket, kept_heard))
        await socket.send(linear16(np.zeros(SAMPLE_RATE // 2, dtype=np.float32)))
        await socket.send(json.dumps({"type": "Finalize"}))
        for _ in range(10):  # 3 s of no audio, three times the idle timeout
            await socket.send(json.dumps({"type": "KeepAlive"}))
            await asyncio.sleep(0.3)
        await socket.send(json.dumps({"type": "CloseStream"}))
        await listener
    assert kept_heard.code == 1000, kept_heard.reason
    flushed = kept_heard.of("Results")  # Finalize, with nothing spoken: an empty final
    assert [(m["is_final"], m["from_finalize"], m["duration"]) for m in flushed] == [
        (True, True, 0.5)
    ]
    closed = await wait_settled(live, tenant, kept["id"])
    assert closed["ended"]["reason"] == "close-stream"

    silent = await live.create(tenant, idle_timeout=1)
    silent_heard = Conversation()
    async with live.connect(tenant, silent) as socket:
        started = asyncio.get_running_loop().time()
        await listen(socket, silent_heard)  # sending nothing at all
        waited = asyncio.get_running_loop().time() - started
    assert 0.9 < waited < 5.0
    assert silent_heard.code == 1011
    assert silent_heard.reason.startswith("idle-timeout: No audio and no KeepAlive")
    assert [m["type"] for m in silent_heard.messages] == ["Metadata"]
    session = await wait_settled(live, tenant, silent["id"])
    assert session["status"] == "closed"
    assert session["ended"]["reason"] == "idle-timeout"
    assert "KeepAlive" in session["ended"]["detail"]
    assert session["ended"]["close_code"] == 1011
    assert session["audio_seconds"] == 0
    assert session["credits_charged"] == 0  # no audio: the first minute's hold released
    transcript = await live.transcript(tenant, session["transcript_id"])
    assert transcript["text"] == ""
    # Half a second of audio in the first session: one started minute.
    assert await live.balance(tenant) == (available - 1, 0)


async def test_a_socket_dropped_mid_stream_keeps_what_was_heard(
    live: LiveApp, dialogue: tuple[np.ndarray, list[Utterance]]
) -> None:
    pcm, spoken = dialogue
    tenant = new_tenant()
    created = await live.create(tenant, language="en")
    heard = Conversation()
    # The first utterance and its pause, then the second one cut in the middle.
    cut = round((spoken[1].start + 1.0) * SAMPLE_RATE)
    async with live.connect(tenant, created) as socket:
        listener = asyncio.create_task(listen(socket, heard))
        await send_audio(socket, linear16(pcm[:cut]), pace=2.0)
        socket.transport.abort()  # gone: no close frame, no CloseStream
        await listener
    session = await wait_settled(live, tenant, created["id"])
    assert session["status"] == "closed"
    assert session["ended"]["reason"] == "disconnected"
    assert session["audio_seconds"] == pytest.approx(cut / SAMPLE_RATE, abs=0.01)
    transcript = await live.transcript(tenant, session["transcript_id"])
    assert transcript["status"] == "completed"
    first = transcript["document"]["segments"][0]["text"]
    assert word_error_rate(TEXTS[0], first) <= 0.25, first
    assert transcript["text"].lower().count("we") >= 1  # the cut utterance was flushed too


async def test_stop_through_the_api_ends_the_stream(
    live: LiveApp, dialogue: tuple[np.ndarray, list[Utterance]]
) -> None:
    pcm, spoken = dialogue
    tenant = new_tenant()
    never = await live.create(tenant)
    stopped = await live.http.post(
        f"/v1/transcription-sessions/{never['id']}/stop", headers=live.headers(tenant)
    )
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "closed"
    assert stopped.json()["ended"]["reason"] == "stopped"
    assert stopped.json()["transcript_id"] is None

    created = await live.create(tenant, language="en")
    heard = Conversation()
    async with live.connect(tenant, created) as socket:
        listener = asyncio.create_task(listen(socket, heard))
        await send_audio(socket, linear16(pcm[: round((spoken[0].end + 1.0) * SAMPLE_RATE)]))
        answer = await live.http.post(
            f"/v1/transcription-sessions/{created['id']}/stop", headers=live.headers(tenant)
        )
        await asyncio.wait_for(listener, 30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "closed"
    assert answer.json()["ended"]["reason"] == "stopped"
    assert heard.code == 1000
    assert heard.reason.startswith("stopped")
    assert heard.messages[-1]["type"] == "Metadata"
    assert word_error_rate(TEXTS[0], " ".join(Conversation.text(m) for m in heard.finals)) <= 0.25
    again = await live.http.post(
        f"/v1/transcription-sessions/{created['id']}/stop", headers=live.headers(tenant)
    )
    assert again.json()["ended"] == answer.json()["ended"]


async def test_audio_that_cannot_be_decoded_fails_the_session_with_the_reason(
    live: LiveApp,
) -> None:
    tenant = new_tenant()
    created = await live.create(tenant, encoding="opus")
    heard = Conversation()
    async with live.connect(tenant, created) as socket:
        listener = asyncio.create_task(listen(socket, heard))
        await socket.send(json.dumps({"type": "Hello"}))
        await socket.send(b"RIFF" + bytes(4000))  # a WAV file is not Opus in Ogg or WebM
        await listener
    assert heard.messages[0]["type"] == "Warning"
    assert heard.messages[0]["code"] == "unknown-message"
    assert heard.code == 1007
    assert "Ogg or WebM" in heard.reason
    session = await wait_settled(live, tenant, created["id"])
    assert session["status"] == "failed"
    assert session["error"]["type"] == "/problems/audio-undecodable"
    assert session["credits_charged"] == 0


async def test_every_started_minute_is_charged_and_the_audio_is_bounded(
    live_settings: TranscriptionSettings,
) -> None:
    settings = live_settings.model_copy(update={"max_audio_seconds": 70.0})
    async with live_app(settings) as live:
        tenant = new_tenant()
        available, _ = await live.balance(tenant)
        # 61 s of silence, sent at once: the second minute is held as the audio enters it.
        created = await live.create(tenant)
        heard = Conversation()
        async with live.connect(tenant, created) as socket:
            listener = asyncio.create_task(listen(socket, heard))
            await send_audio(socket, bytes(2 * 61 * SAMPLE_RATE), pace=None, step=64_000)
            await socket.send(json.dumps({"type": "CloseStream"}))
            await listener
        session = await wait_settled(live, tenant, created["id"])
        assert session["audio_seconds"] == pytest.approx(61.0)
        assert session["credits_charged"] == 2
        assert await live.balance(tenant) == (available - 2, 0)

        # Past max_audio_seconds the stream ends, keeping (and charging) what came before.
        bounded = await live.create(tenant)
        heard = Conversation()
        async with live.connect(tenant, bounded) as socket:
            listener = asyncio.create_task(listen(socket, heard))
            with contextlib.suppress(ConnectionClosed):
                await send_audio(socket, bytes(2 * 80 * SAMPLE_RATE), pace=None, step=64_000)
            await listener
        assert heard.code == 1008
        assert heard.reason.startswith("too-long")
        session = await wait_settled(live, tenant, bounded["id"])
        assert session["ended"]["reason"] == "too-long"
        assert session["audio_seconds"] <= 70.0
        assert session["credits_charged"] == 2


# --- the deepgram backend ---------------------------------------------------------------------


async def test_the_deepgram_backend_relays_to_deepgram(
    live_settings: TranscriptionSettings,
) -> None:
    """Against the fake Deepgram: its words come back in our messages and transcript."""
    audio = np.random.default_rng(3).normal(0, 0.1, 5 * SAMPLE_RATE).astype(np.float32)
    said = [SpokenWord("Hello,", 0.3, 0.6), SpokenWord("world.", 0.7, 1.1),
            SpokenWord("Again.", 3.0, 3.5)]  # fmt: skip
    fake = FakeDeepgram(api_key="dg-live-key")
    fake.register(linear16(audio), said)
    async with serving(fake.app, lifespan="off") as url:
        settings = live_settings.model_copy(
            update={"deepgram_api_key": SecretStr("dg-live-key"), "deepgram_api_url": url}
        )
        async with live_app(settings) as live:
            tenant = new_tenant()
            created = await live.create(tenant, backend="deepgram", endpointing=300)
            heard = Conversation()
            async with live.connect(tenant, created) as socket:
                listener = asyncio.create_task(listen(socket, heard))
                await send_audio(socket, linear16(audio), pace=None)
                await socket.send(json.dumps({"type": "CloseStream"}))
                await listener
            session = await wait_settled(live, tenant, created["id"])
            transcript = await live.transcript(tenant, session["transcript_id"])
    assert heard.code == 1000
    assert [Conversation.text(m) for m in heard.finals if Conversation.words(m)] == [
        "Hello, world.",
        "Again.",
    ]
    assert [m["last_word_end"] for m in heard.of("UtteranceEnd")] == [1.1, 3.5]
    stream = fake.streams[0]
    assert stream.params["model"] == "nova-2"
    assert stream.params["endpointing"] == "300"
    assert stream.text_messages[-1] == "CloseStream"
    assert session["backend"] == "deepgram"
    assert [w["word"] for s in transcript["document"]["segments"] for w in s["words"]] == [
        "Hello,",
        "world.",
        "Again.",
    ]


# --- refusals, limits and tenancy ---------------------------------------------------------------


async def test_options_that_cannot_stream_are_refused(live: LiveApp) -> None:
    tenant = new_tenant()
    headers = live.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex})
    for body, slug in [
        ({"encoding": "opus", "sample_rate": 48000}, "validation-failed"),
        ({"endpointing": 5}, "validation-failed"),
        ({"utterance_end_ms": 500}, "validation-failed"),
        ({"encoding": "mp3"}, "validation-failed"),
        ({"backend": "nope"}, "transcript-backend-unknown"),
        ({"backend": "deepgram"}, "not-configured"),
    ]:
        answer = await live.http.post("/v1/transcription-sessions", json=body, headers=headers)
        assert answer.status_code in (422, 501), (body, answer.text)
        assert answer.json()["type"].endswith(slug), (body, answer.text)
    no_endpointing = await live.create(tenant, endpointing=False)
    assert no_endpointing["options"]["endpointing"] is False


async def test_a_tenant_has_a_bounded_number_of_open_sessions(
    live_settings: TranscriptionSettings,
) -> None:
    settings = live_settings.model_copy(update={"live_max_sessions_per_tenant": 2})
    async with live_app(settings) as live:
        tenant, other = new_tenant(), new_tenant()
        first = await live.create(tenant)
        await live.create(tenant)
        third = await live.http.post(
            "/v1/transcription-sessions", json={},
            headers=live.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
        )  # fmt: skip
        assert third.status_code == 429, third.text
        assert third.json()["type"].endswith("/too-many-live-sessions")
        await live.create(other)  # another tenant's count is its own
        await live.http.post(
            f"/v1/transcription-sessions/{first['id']}/stop", headers=live.headers(tenant)
        )
        await live.create(tenant)  # a stopped one frees its place


async def test_sessions_belong_to_their_tenant_and_stream_once(live: LiveApp) -> None:
    tenant, other = new_tenant(), new_tenant()
    created = await live.create(tenant)
    for method, path in [("GET", ""), ("POST", "/stop")]:
        answer = await live.http.request(
            method, f"/v1/transcription-sessions/{created['id']}{path}",
            headers=live.headers(other),
        )  # fmt: skip
        assert answer.status_code == 404, (method, answer.text)
    with pytest.raises(InvalidStatus) as refused:
        async with live.connect(other, created):
            pass
    assert refused.value.response.status_code == 404
    theirs = await live.http.get("/v1/transcription-sessions", headers=live.headers(other))
    assert theirs.json()["items"] == []

    async with live.connect(tenant, created) as socket:
        await socket.send(json.dumps({"type": "CloseStream"}))
        await listen(socket, Conversation())
    with pytest.raises(InvalidStatus) as again:
        async with live.connect(tenant, created):
            pass
    assert again.value.response.status_code == 409
    assert b"session-not-streamable" in again.value.response.body
    mine = await live.http.get("/v1/transcription-sessions", headers=live.headers(tenant))
    assert [item["id"] for item in mine.json()["items"]] == [created["id"]]
