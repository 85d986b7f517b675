"""The Deepgram backend against the local fake of Deepgram (``kit.testing.fakes.deepgram``),
served on 127.0.0.1: what the REST adapter sends (``Token`` auth, options as query
parameters), how it maps the answer (speakers, utterances, paragraphs, detected language),
its retries and typed refusals; and the live session: interim then final results,
``UtteranceEnd``, KeepAlive holding an idle stream open past the server's no-audio timeout,
and a stream without KeepAlive closed by the server (1011, NET-0001) and told as such."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from v100.ai.asr import (
    DeepgramAuthError,
    DeepgramBadRequest,
    DeepgramLiveSession,
    DeepgramOptions,
    DeepgramPaymentRequired,
    DeepgramRateLimited,
    DeepgramStreamClosed,
    DeepgramTranscriber,
    DeepgramUnavailable,
    LiveMetadata,
    LiveResult,
    LiveUtteranceEnd,
    Transcriber,
)
from v100.kit.testing.fakes.deepgram import FakeDeepgram, SpokenWord
from v100.kit.testing.servers import dead_url, serving

RATE = 16_000

# Two people: the first speaks, pauses, then the second answers.
DIALOGUE = (
    SpokenWord("Hello,", 0.30, 0.62, speaker=0, confidence=0.99),
    SpokenWord("is", 0.70, 0.82, speaker=0, confidence=0.97),
    SpokenWord("Anna", 0.86, 1.20, speaker=0, confidence=0.95),
    SpokenWord("there?", 1.24, 1.60, speaker=0, confidence=0.96),
    SpokenWord("Yes,", 3.00, 3.30, speaker=1, confidence=0.98),
    SpokenWord("speaking.", 3.36, 3.90, speaker=1, confidence=0.94),
)


def pcm16(seconds: float, seed: int = 1) -> bytes:
    """Distinct, deterministic 16-bit samples (the fake matches bytes, not sounds)."""
    noise = np.random.default_rng(seed).normal(0, 3000, int(seconds * RATE))
    return noise.clip(-32768, 32767).astype("<i2").tobytes()


def wav(pcm: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm)
    return buffer.getvalue()


SaveAudio = Callable[[bytes], Path]


@pytest.fixture
def save(tmp_path: Path) -> SaveAudio:
    """Writes linear16 samples (or a WAV file) to a WAV file: files are what services send."""
    count = 0

    def write(data: bytes) -> Path:
        nonlocal count
        count += 1
        path = tmp_path / f"audio-{count}.wav"
        path.write_bytes(data if data.startswith(b"RIFF") else wav(data))
        return path

    return write


@pytest.fixture
async def deepgram() -> AsyncIterator[tuple[FakeDeepgram, str]]:
    fake = FakeDeepgram(no_audio_timeout=0.8)
    async with serving(fake.app, lifespan="off") as url:
        yield fake, url


def transcriber(fake: FakeDeepgram, url: str, **kwargs: object) -> DeepgramTranscriber:
    options = kwargs.pop("options", None)
    assert options is None or isinstance(options, DeepgramOptions)
    return DeepgramTranscriber(
        kwargs.pop("key", fake.api_key),  # type: ignore[arg-type]
        base_url=url, options=options, backoff=0.01, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


# --- pre-recorded --------------------------------------------------------------------------


async def test_a_file_is_sent_with_token_auth_and_the_options_as_query(
    deepgram: tuple[FakeDeepgram, str], tmp_path: Path
) -> None:
    fake, url = deepgram
    audio = pcm16(4.2)
    fake.register(audio, DIALOGUE, language="en", language_confidence=0.97)
    path = tmp_path / "call.wav"
    path.write_bytes(wav(audio))
    backend = transcriber(fake, url)
    assert isinstance(backend, Transcriber)

    transcript = await backend.transcribe_async(path)

    [sent] = fake.requests
    assert sent.authorization == f"Token {fake.api_key}"
    assert sent.content_type == "audio/x-wav" or sent.content_type == "audio/wav"
    assert sent.params == {
        "model": "nova-2", "smart_format": "true", "punctuate": "true", "diarize": "true",
        "utterances": "true", "paragraphs": "false", "detect_language": "true",
    }  # fmt: skip
    assert transcript.backend == "deepgram"
    assert transcript.text == "Hello, is Anna there? Yes, speaking."
    assert transcript.duration == pytest.approx(4.2)
    assert (transcript.language, transcript.language_probability) == ("en", 0.97)


async def test_words_and_segments_carry_speakers_times_and_confidences(
    deepgram: tuple[FakeDeepgram, str],
) -> None:
    fake, url = deepgram
    audio = pcm16(4.2)
    fake.register(audio, DIALOGUE)
    pcm = np.frombuffer(audio, dtype="<i2").astype(np.float32) / 32767.0

    transcript = await transcriber(fake, url).transcribe_async(pcm)  # an array goes as WAV

    assert fake.requests[0].content_type == "audio/wav"
    assert [(w.text, w.start, w.end, w.probability, w.speaker) for w in transcript.words] == [
        (w.text, w.start, w.end, w.confidence, w.speaker) for w in DIALOGUE
    ]
    first, second = transcript.segments  # the utterances: split at the pause and the speaker
    assert (first.text, first.start, first.end, first.speaker) == (
        "Hello, is Anna there?", 0.30, 1.60, 0
    )  # fmt: skip
    assert (second.text, second.speaker, len(second.words)) == ("Yes, speaking.", 1, 2)
    assert second.avg_logprob == pytest.approx(np.log(np.mean([0.98, 0.94])))
    assert transcript.speech_duration == pytest.approx((1.60 - 0.30) + (3.90 - 3.00))


async def test_a_named_language_is_sent_and_nothing_is_detected(
    deepgram: tuple[FakeDeepgram, str],
    save: SaveAudio,
) -> None:
    fake, url = deepgram
    audio = pcm16(4.2, seed=2)
    fake.register(audio, DIALOGUE, language="en")
    backend = transcriber(fake, url, options=DeepgramOptions(diarize=False))

    transcript = await asyncio.to_thread(backend.transcribe, save(audio), "de")  # blocking API

    params = fake.requests[0].params
    assert params["language"] == "de"
    assert "detect_language" not in params
    assert params["diarize"] == "false"
    assert (transcript.language, transcript.language_probability) == ("de", 1.0)
    assert all(word.speaker is None for word in transcript.words)  # no diarize, no speakers


async def test_without_utterances_the_segments_are_the_paragraphs(
    deepgram: tuple[FakeDeepgram, str],
    save: SaveAudio,
) -> None:
    fake, url = deepgram
    audio = pcm16(4.2, seed=3)
    fake.register(audio, DIALOGUE)
    backend = transcriber(fake, url, options=DeepgramOptions(utterances=False, paragraphs=True))

    transcript = await backend.transcribe_async(save(audio))

    assert fake.requests[0].params["paragraphs"] == "true"
    assert [(s.text, s.speaker) for s in transcript.segments] == [
        ("Hello, is Anna there?", 0), ("Yes, speaking.", 1)
    ]  # fmt: skip
    assert [len(s.words) for s in transcript.segments] == [4, 2]


async def test_audio_the_fake_does_not_know_is_heard_as_silence(
    deepgram: tuple[FakeDeepgram, str],
    save: SaveAudio,
) -> None:
    fake, url = deepgram
    fake.register(pcm16(4.2), DIALOGUE)
    unknown = pcm16(2.5, seed=9)  # nobody said what this contains

    transcript = await transcriber(fake, url).transcribe_async(save(unknown))

    assert transcript.segments == ()
    assert transcript.text == ""
    assert transcript.duration == pytest.approx(2.5)
    assert transcript.language is None
    assert transcript.language_probability is None


async def test_bytes_that_are_not_audio_are_a_bad_request(
    deepgram: tuple[FakeDeepgram, str], tmp_path: Path
) -> None:
    fake, url = deepgram
    path = tmp_path / "notes.mp3"
    path.write_bytes(b"this is not audio at all")

    with pytest.raises(DeepgramBadRequest) as refused:
        await transcriber(fake, url).transcribe_async(path)

    assert refused.value.status == 400
    assert "corrupt or unsupported data" in str(refused.value)
    assert fake.requests[0].content_type == "audio/mpeg"


async def test_rate_limits_and_outages_are_retried_then_it_succeeds(
    deepgram: tuple[FakeDeepgram, str],
    save: SaveAudio,
) -> None:
    fake, url = deepgram
    audio = pcm16(4.2)
    fake.register(audio, DIALOGUE)
    fake.fail_next(2, status=429)
    fake.fail_next(1, status=503)

    transcript = await transcriber(fake, url, retries=3).transcribe_async(save(audio))

    assert transcript.text == "Hello, is Anna there? Yes, speaking."
    assert fake.attempts == 4
    assert len(fake.requests) == 1  # the one that got through


async def test_a_rate_limit_that_outlasts_the_retries_is_raised(
    deepgram: tuple[FakeDeepgram, str],
    save: SaveAudio,
) -> None:
    fake, url = deepgram
    fake.fail_next(3, status=429)

    with pytest.raises(DeepgramRateLimited) as limited:
        await transcriber(fake, url, retries=2).transcribe_async(save(pcm16(1)))

    assert limited.value.err_code == "TOO_MANY_REQUESTS"
    assert limited.value.request_id
    assert fake.attempts == 3  # the first and two retries


async def test_a_wrong_key_is_refused_at_once_and_clearly(
    deepgram: tuple[FakeDeepgram, str],
    save: SaveAudio,
) -> None:
    fake, url = deepgram

    with pytest.raises(DeepgramAuthError) as refused:
        await transcriber(fake, url, key="not-the-key").transcribe_async(save(pcm16(1)))

    error = refused.value
    assert (error.status, error.err_code) == (401, "INVALID_AUTH")
    assert error.request_id
    assert "Invalid credentials." in str(error)
    assert fake.attempts == 1
    assert fake.requests == []


async def test_no_credits_is_not_retried(
    deepgram: tuple[FakeDeepgram, str], save: SaveAudio
) -> None:
    fake, url = deepgram
    fake.fail_next(1, status=402)

    with pytest.raises(DeepgramPaymentRequired) as refused:
        await transcriber(fake, url).transcribe_async(save(pcm16(1)))

    assert refused.value.err_code == "ASR_PAYMENT_REQUIRED"
    assert fake.attempts == 1  # a 402 is not retried


async def test_a_url_is_sent_as_json_for_deepgram_to_fetch(
    deepgram: tuple[FakeDeepgram, str],
) -> None:
    fake, url = deepgram
    audio = wav(pcm16(4.2))
    fake.register(audio, DIALOGUE)
    fake.remote["https://media.example.test/call.wav"] = audio
    backend = transcriber(fake, url)

    transcript = await backend.transcribe_url_async("https://media.example.test/call.wav")

    assert fake.requests[0].content_type == "application/json"
    assert transcript.text == "Hello, is Anna there? Yes, speaking."
    with pytest.raises(DeepgramBadRequest) as refused:
        await backend.transcribe_url_async("https://media.example.test/missing.wav")
    assert refused.value.err_code == "REMOTE_CONTENT_ERROR"


async def test_no_server_at_all_is_unavailable_after_the_retries() -> None:
    backend = DeepgramTranscriber("k", base_url=dead_url(), retries=1, backoff=0.01)
    with pytest.raises(DeepgramUnavailable, match="did not answer"):
        await backend.transcribe_async(np.zeros(RATE, dtype=np.float32))


# --- live ------------------------------------------------------------------------------------


def live(fake: FakeDeepgram, url: str, **kwargs: object) -> DeepgramLiveSession:
    return DeepgramLiveSession(
        str(kwargs.pop("key", fake.api_key)), base_url=url.replace("http://", "ws://"),
        close_timeout=5, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


async def stream(session: DeepgramLiveSession, audio: bytes, chunk_seconds: float = 0.1) -> None:
    step = int(chunk_seconds * RATE) * 2
    for offset in range(0, len(audio), step):
        await session.send_audio(audio[offset : offset + step])
        await asyncio.sleep(0)


async def test_live_audio_gives_interim_then_final_results_and_utterance_end(
    deepgram: tuple[FakeDeepgram, str],
) -> None:
    fake, url = deepgram
    audio = pcm16(5.2)  # a second of quiet after the last word
    fake.register(audio, DIALOGUE)
    events: list[object] = []
    async with live(fake, url, diarize=True) as session:
        collecting = asyncio.create_task(_collect(session, events))
        await stream(session, audio)
    await asyncio.wait_for(collecting, 5)

    [sent] = fake.streams
    assert sent.params["encoding"] == "linear16"
    assert sent.params["sample_rate"] == "16000"
    assert sent.params["interim_results"] == "true"
    assert sent.params["utterance_end_ms"] == "1000"
    assert sent.text_messages[-1] == "CloseStream"
    assert sent.close_code == 1000
    results = [e for e in events if isinstance(e, LiveResult)]
    first_final = next(i for i, r in enumerate(results) if r.is_final)
    assert first_final > 0
    assert all(not r.is_final for r in results[:first_final])
    assert results[0].transcript == "Hello,"  # interim, growing as the audio covers words
    final = results[first_final]
    assert (final.transcript, final.is_final, final.speech_final) == (
        "Hello, is Anna there?", True, True
    )  # fmt: skip
    assert [w.speaker for w in final.words] == [0, 0, 0, 0]
    ends = [e for e in events if isinstance(e, LiveUtteranceEnd)]
    assert [e.last_word_end for e in ends] == [1.60, 3.90]  # 1 s of quiet after each phrase
    assert events.index(ends[0]) > events.index(final)
    assert session.transcript() == "Hello, is Anna there? Yes, speaking."
    assert isinstance(events[-1], LiveMetadata)
    assert session.metadata is not None
    assert session.metadata.duration == pytest.approx(5.2)
    assert session.closed is None


async def test_finalize_turns_what_was_heard_into_a_final_result(
    deepgram: tuple[FakeDeepgram, str],
) -> None:
    fake, url = deepgram
    audio = pcm16(4.2)
    fake.register(audio, DIALOGUE)
    async with live(fake, url, endpointing_ms=None) as session:
        await stream(session, audio[: int(1.3 * RATE) * 2])  # "Hello, is Anna" heard
        await session.finalize()
        async for event in session.events():
            if isinstance(event, LiveResult) and event.is_final:
                break
    assert event.from_finalize
    assert event.transcript == "Hello, is Anna"
    assert not event.speech_final


async def test_keepalive_holds_an_idle_stream_open_past_the_servers_timeout(
    deepgram: tuple[FakeDeepgram, str],
) -> None:
    fake, url = deepgram  # the fake closes after 0.8 s without audio or a message
    audio = pcm16(4.2)
    fake.register(audio, DIALOGUE)
    async with live(fake, url, keepalive_every=0.2) as session:
        await stream(session, audio[: int(2.0 * RATE) * 2])
        await asyncio.sleep(2.0)  # a long silence: nothing sent but KeepAlive
        await stream(session, audio[int(2.0 * RATE) * 2 :])
    [sent] = fake.streams
    assert sent.keepalives >= 5
    assert session.keepalives_sent == sent.keepalives
    assert sent.close_code == 1000
    assert session.closed is None
    assert session.transcript() == "Hello, is Anna there? Yes, speaking."


async def test_without_keepalive_the_server_closes_and_the_client_says_why(
    deepgram: tuple[FakeDeepgram, str],
) -> None:
    fake, url = deepgram
    async with live(fake, url, keepalive_every=None) as session:
        await session.send_audio(pcm16(0.5))
        with pytest.raises(DeepgramStreamClosed) as closed:
            await asyncio.wait_for(_collect(session, []), 5)
        with pytest.raises(DeepgramStreamClosed):
            await session.send_audio(pcm16(0.1))  # sending after that says the same

    error = closed.value
    assert error.code == 1011
    assert error.reason.endswith("https://dpgr.am/net0001")
    assert "(code 1011, NET-0001): no audio or KeepAlive reached Deepgram" in str(error)
    assert fake.streams[0].close_code == 1011
    assert fake.streams[0].keepalives == 0


async def test_a_wrong_key_is_refused_before_the_stream_opens(
    deepgram: tuple[FakeDeepgram, str],
) -> None:
    fake, url = deepgram
    with pytest.raises(DeepgramAuthError) as refused:
        async with live(fake, url, key="nope"):
            pass
    assert (refused.value.status, refused.value.err_code) == (401, "INVALID_AUTH")
    assert fake.streams == []


async def test_live_audio_nobody_registered_gets_no_words(
    deepgram: tuple[FakeDeepgram, str],
) -> None:
    fake, url = deepgram
    fake.register(pcm16(4.2), DIALOGUE)
    async with live(fake, url) as session:
        await stream(session, pcm16(3.5, seed=7))
    assert session.finals
    assert all(r.transcript == "" for r in session.finals)
    assert session.transcript() == ""


async def _collect(session: DeepgramLiveSession, into: list[object]) -> None:
    async for event in session.events():
        into.append(event)
