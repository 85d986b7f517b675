"""Live transcription on the local model (ADR 0038): 16 kHz audio fed in chunks, Silero VAD run
on every 32 ms window as it arrives (one model per stream, off the event loop), and Whisper
run only on utterances, on the model's own thread:

- speech starts (a window at the VAD's threshold): ``SpeechStarted``;
- while it goes on, about every second of audio, the open utterance is decoded again cheaply
  (greedy, one temperature) into an interim result, but only when the model is idle, so
  interim results never delay a final one and a busy model simply sends fewer;
- the speaker pauses for ``endpointing_ms``: the utterance is decoded carefully (beam search,
  as a file) into a final result with ``is_final`` and ``speech_final``; an utterance that
  runs past ``max_utterance`` seconds is cut at its quietest window into a final result
  without ``speech_final``;
- ``utterance_end_ms`` of audio pass after the last final word with nobody speaking:
  ``UtteranceEnd``;
- ``Finalize`` makes what is open final now (``from_finalize``); closing flushes the same way.

Results leave in the order their decoding was asked for, so an utterance's final result always
comes after its interim ones. Word times are seconds from the start of the stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

import numpy as np

from v100.ai.asr._live import (
    LiveEvent,
    LiveResult,
    LiveSpeechStarted,
    LiveUtteranceEnd,
    drain,
)
from v100.ai.asr._transcript import Transcript, Word
from v100.ai.asr._whisper import LocalWhisper
from v100.ai.audio import SAMPLE_RATE, Pcm
from v100.ai.vad import StreamingVad

__all__ = ["FINAL_OPTIONS", "INTERIM_OPTIONS", "LocalLiveSession", "StreamingOptions"]

# faster-whisper's options over DECODE_OPTIONS. Interim: greedy with no temperature fallback (a
# fallback decodes up to five times more); final: beam search as for a file. An utterance is
# decoded on its own, so there is no previous text to condition on.
INTERIM_OPTIONS: dict[str, Any] = {
    "beam_size": 1,
    "best_of": 1,
    "temperature": 0.0,
    "condition_on_previous_text": False,
}
FINAL_OPTIONS: dict[str, Any] = {"condition_on_previous_text": False}


@dataclass(frozen=True, slots=True)
class StreamingOptions:
    """How a live session listens. ``endpointing_ms`` None: a pause never makes a result
    ``speech_final``; utterances still close after ``quiet_close`` seconds of silence."""

    language: str | None = None  # None: detected on the first utterance, then kept
    interim_results: bool = True
    endpointing_ms: int | None = 300
    utterance_end_ms: int | None = 1000
    vad_events: bool = True
    interim_every: float = 1.0  # seconds of audio between interim decodes
    max_utterance: float = 20.0  # seconds: Whisper reads 30 s windows
    threshold: float = 0.5  # Silero's: at or above starts speech, below it minus 0.15 ends it
    pre_roll: float = 0.3  # seconds before the first speech window decoded with it
    min_speech: float = 0.1  # seconds: a shorter blip (a click) is not decoded
    quiet_close: float = 2.0


class _Buffer:
    """The stream's recent samples, addressed by their index in the whole stream."""

    def __init__(self) -> None:
        self._data = np.zeros(SAMPLE_RATE * 4, dtype=np.float32)
        self._length = 0
        self.base = 0  # the stream index of the first sample held

    @property
    def end(self) -> int:
        return self.base + self._length

    def append(self, pcm: Pcm) -> None:
        needed = self._length + pcm.size
        if needed > self._data.size:
            grown = np.zeros(max(needed, 2 * self._data.size), dtype=np.float32)
            grown[: self._length] = self._data[: self._length]
            self._data = grown
        self._data[self._length : needed] = pcm
        self._length = needed

    def since(self, start: int, stop: int) -> Pcm:
        """A copy of the samples [start, stop) (clipped to what is held)."""
        low, high = max(start, self.base) - self.base, max(0, min(stop, self.end) - self.base)
        return self._data[low:high].copy()

    def drop_before(self, index: int) -> None:
        cut = min(max(0, index - self.base), self._length)
        if cut < SAMPLE_RATE:  # keep copying rare
            return
        self._data[: self._length - cut] = self._data[cut : self._length]
        self._length -= cut
        self.base += cut


# What the inbox carries besides audio.
_FINALIZE = "finalize"
_CLOSE = "close"
_WAKE = "wake"  # a decoding failed: the worker stops


class LocalLiveSession:
    """A live stream on ``LocalWhisper`` (see the module's docstring), used like
    ``DeepgramLiveSession``: ``async with`` (the model starts loading, on its thread),
    ``send_audio``, ``events()``, ``finalize``; leaving the block flushes the last results.
    ``send_audio`` waits when ``backlog`` chunks are still to be heard (the caller slows
    down rather than the memory growing)."""

    def __init__(
        self,
        whisper: LocalWhisper,
        options: StreamingOptions | None = None,
        *,
        backlog: int = 512,
    ) -> None:
        self._whisper = whisper
        self.options = options or StreamingOptions()
        self._vad = StreamingVad()
        self._window = self._vad.window
        self._inbox: asyncio.Queue[Pcm | str] = asyncio.Queue(maxsize=backlog)
        self._events: asyncio.Queue[LiveEvent | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._loading: asyncio.Task[None] | None = None
        self._chain: asyncio.Task[None] | None = None  # the last decoding asked for
        self.error: BaseException | None = None
        self.finals: list[LiveResult] = []
        self.interim_results = 0
        self.language: str | None = self.options.language
        self.language_probability: float | None = 1.0 if self.options.language else None
        self.speech_seconds = 0.0  # what the finals decoded
        # Where the stream is, in samples: heard by the VAD, and the end of the last final.
        self._heard = 0
        self._final_until = 0
        self._audio = _Buffer()
        # The open utterance.
        self._speaking = False
        self._start = 0
        self._silence_from: int | None = None
        self._probabilities: list[float] = []
        self._interim_at = 0
        self._interim_running = False
        self._interim_asked = False  # for the open utterance
        # The end of the last final word, until its UtteranceEnd is said; where each run of
        # speech windows began (audio runs ahead of decoding when it comes faster than real
        # time, so the gap is read from these rather than from where the stream is now).
        self._last_word_end: float | None = None
        self._runs: list[int] = []
        self._voiced = False

    # --- the caller's side ---------------------------------------------------------------

    async def __aenter__(self) -> LocalLiveSession:
        # The model loads on its thread now; the first decoding queues behind it.
        self._loading = asyncio.create_task(self._whisper.load_async(), name="live-local-load")
        self._worker = asyncio.create_task(self._run(), name="live-local")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.close()

    async def send_audio(self, audio: bytes | np.ndarray[Any, Any]) -> None:
        """16 kHz mono: ``linear16`` bytes, or float32 samples in [-1, 1]."""
        if isinstance(audio, bytes | bytearray | memoryview):
            pcm = np.frombuffer(bytes(audio), dtype="<i2").astype(np.float32) / 32768.0
        else:
            pcm = np.asarray(audio, dtype=np.float32)
        if pcm.ndim != 1:
            raise ValueError("PCM must be one channel: a 1-D array of 16 kHz float32 samples")
        if pcm.size:
            await self._put(pcm)

    async def finalize(self) -> None:
        await self._put(_FINALIZE)

    async def close(self) -> None:
        """Flush what is open into a final result, wait for every result, end ``events()``."""
        if self._worker is None:
            return
        if not self._worker.done():
            await self._inbox.put(_CLOSE)
        await asyncio.shield(self._worker)

    def events(self) -> AsyncIterator[LiveEvent]:
        """Results, ``SpeechStarted`` and ``UtteranceEnd`` until the session closes; the
        decoding error if one ended it."""
        return drain(self._events, lambda: self.error)

    def transcript(self) -> str:
        return " ".join(r.transcript for r in self.finals if r.transcript).strip()

    async def _put(self, item: Pcm | str) -> None:
        if self._worker is None:
            raise RuntimeError("the session is not open: use `async with`")
        if self._worker.done():
            raise self.error or RuntimeError("the session is closed")
        await self._inbox.put(item)

    # --- the worker: VAD and the utterance's state ------------------------------------------

    async def _run(self) -> None:
        try:
            while True:
                item = await self._inbox.get()
                if self.error is not None:
                    break  # a decoding failed (and woke us)
                if isinstance(item, np.ndarray):
                    await self._hear(item)
                elif item == _FINALIZE:
                    self._flush(always=True)
                elif item == _CLOSE:
                    self._flush(always=False)
                    break
            if self._chain is not None:
                await self._chain
            if self._loading is not None:
                await self._loading  # a model that cannot load says so here
        except Exception as exc:  # the VAD or the model failed: the stream cannot go on
            self.error = exc
        finally:
            self._events.put_nowait(None)

    async def _hear(self, pcm: Pcm) -> None:
        self._audio.append(pcm)
        probabilities = await asyncio.to_thread(self._vad.feed, pcm)
        for probability in probabilities:
            self._window_heard(float(probability))
        self._maybe_interim()
        # What the next decoding can need: from the open utterance's (or the next one's)
        # pre-roll on, never before the last final result.
        anchor = self._start if self._speaking else self._heard
        pre_roll = self._seconds(self.options.pre_roll)
        self._audio.drop_before(max(self._final_until, anchor - pre_roll))

    def _window_heard(self, probability: float) -> None:
        options, window = self.options, self._window
        start = self._heard
        self._heard += window
        voiced = probability >= options.threshold
        if voiced and not self._voiced and options.utterance_end_ms is not None:
            self._runs.append(start)
        self._voiced = voiced
        if voiced:
            self._silence_from = None
            if not self._speaking:
                self._open(start)
                if options.vad_events:
                    self._emit(LiveSpeechStarted(timestamp=start / SAMPLE_RATE))
        elif self._speaking and probability < max(options.threshold - 0.15, 0.01):
            if self._silence_from is None:
                self._silence_from = start
            pause = self._heard - self._silence_from
            if options.endpointing_ms is not None:
                if pause >= self._seconds(options.endpointing_ms / 1000):
                    self._final(self._heard, speech_final=True)
            elif pause >= self._seconds(options.quiet_close):
                self._final(self._heard, speech_final=False)
        if self._speaking:
            self._probabilities.append(probability)
            if self._heard - self._start >= self._seconds(options.max_utterance):
                self._cut()
        self._maybe_utterance_end()

    def _maybe_utterance_end(self) -> None:
        """``UtteranceEnd`` once ``utterance_end_ms`` of audio with nobody speaking follow the
        last final word (checked as audio comes, and as the final result leaves: its decoding
        may end after the gap was heard)."""
        gap, last = self.options.utterance_end_ms, self._last_word_end
        if gap is None or last is None:
            return
        after = [start for start in self._runs if start / SAMPLE_RATE > last]
        quiet_until = after[0] if after else self._heard
        if quiet_until / SAMPLE_RATE - last >= gap / 1000:
            self._emit(LiveUtteranceEnd(last_word_end=last))
            self._last_word_end = None

    def _open(self, start: int) -> None:
        self._speaking = True
        self._start = max(start, self._final_until)
        self._silence_from = None
        self._probabilities = []
        self._interim_at = self._start
        self._interim_asked = False

    def _cut(self) -> None:
        """A final result up to the quietest window of the utterance's last 3 s (its second
        half, at most); the rest of the utterance stays open."""
        recent = min(len(self._probabilities) // 2, self._seconds(3.0) // self._window)
        tail = self._probabilities[-recent:]
        quietest = max(1, len(self._probabilities) - recent + int(np.argmin(tail)))
        cut = self._start + quietest * self._window
        kept = self._probabilities[quietest:]
        self._final(cut, speech_final=False)
        self._open(cut)
        self._probabilities = kept

    def _flush(self, *, always: bool) -> None:
        """Finalize (``always``: a result even when nothing is open) or close."""
        if self._speaking or always:  # up to every sample received, not only whole windows
            self._final(self._audio.end, speech_final=False, from_finalize=always, empty=always)

    # --- decoding --------------------------------------------------------------------------

    def _final(
        self, end: int, *, speech_final: bool, from_finalize: bool = False, empty: bool = False
    ) -> None:
        """Close the open utterance at ``end`` and ask for its final result. A blip too short
        to be speech gives none, unless an interim result was asked for it (its words must be
        taken back) or the caller wants one (``Finalize``)."""
        span_start = self._final_until
        speech_end = end if self._silence_from is None else self._silence_from
        spoken = self._speaking and (
            speech_end - self._start >= self._seconds(self.options.min_speech)
            or self._interim_asked
        )
        snippet_from = max(span_start, self._start - self._seconds(self.options.pre_roll))
        pcm = self._audio.since(snippet_from, end) if spoken else None
        self._speaking = False
        self._silence_from = None
        self._final_until = end
        if pcm is None and not empty:
            self._runs = [start for start in self._runs if start > end]  # a blip: forgotten
            return

        def emit(transcript: Transcript | None) -> None:
            result = self._result(
                transcript, snippet_from, span_start, end, final=True,
                speech_final=speech_final, from_finalize=from_finalize,
            )  # fmt: skip
            self.finals.append(result)
            # Runs of speech before this result's last word (or its end) matter no more.
            heard_until = end if not result.words else result.words[-1].end * SAMPLE_RATE
            self._runs = [start for start in self._runs if start > heard_until]
            if transcript is not None and result.words:
                self.speech_seconds += transcript.duration
                self._detected(transcript)
                if self.options.utterance_end_ms is not None:
                    self._last_word_end = result.words[-1].end
            self._emit(result)
            self._maybe_utterance_end()

        self._then(pcm, FINAL_OPTIONS, emit)

    def _maybe_interim(self) -> None:
        options = self.options
        if not (options.interim_results and self._speaking) or self._interim_running:
            return
        if self._silence_from is not None:  # a pause has begun: its final may be next
            return
        if self._whisper.busy:  # finals first: an interim result never queues
            return
        if self._heard - self._interim_at < self._seconds(options.interim_every):
            return
        if self._heard - self._start < self._seconds(options.min_speech):
            return
        self._interim_at = self._heard
        self._interim_running = self._interim_asked = True
        span_start, end = self._final_until, self._heard
        snippet_from = max(span_start, self._start - self._seconds(options.pre_roll))

        def emit(transcript: Transcript | None) -> None:
            # Sent even when the utterance's final result is asked for already: that one
            # comes after it, and the interim one may be seconds earlier on a busy model.
            self._interim_running = False
            result = self._result(
                transcript, snippet_from, span_start, end, final=False, speech_final=False
            )
            self.interim_results += 1
            self._emit(result)

        self._then(self._audio.since(snippet_from, end), INTERIM_OPTIONS, emit)

    def _then(
        self,
        pcm: Pcm | None,
        options: dict[str, Any],
        emit: Callable[[Transcript | None], None],
    ) -> None:
        """Decode ``pcm`` on the model's thread, then ``emit`` its transcript once every
        result asked for before it has left."""
        previous = self._chain
        language = self.language

        async def step() -> None:
            try:
                transcript = None
                if pcm is not None and pcm.size:
                    transcript = await self._whisper.decode_async(pcm, language, **options)
                if previous is not None:
                    await previous
                if self.error is None:
                    emit(transcript)
            except Exception as exc:
                self.error = self.error or exc
                with contextlib.suppress(asyncio.QueueFull):  # a full inbox wakes it anyway
                    self._inbox.put_nowait(_WAKE)

        self._chain = asyncio.create_task(step(), name="live-local-decode")

    def _result(
        self,
        transcript: Transcript | None,
        snippet_from: int,
        span_start: int,
        end: int,
        *,
        final: bool,
        speech_final: bool,
        from_finalize: bool = False,
    ) -> LiveResult:
        offset, limit = snippet_from / SAMPLE_RATE, end / SAMPLE_RATE
        words = tuple(
            replace(
                word,
                text=word.text.strip(),
                start=min(word.start + offset, limit),
                end=min(word.end + offset, limit),
            )
            for word in (transcript.words if transcript is not None else ())
            if word.text.strip()
        )
        return LiveResult(
            transcript=transcript.text if transcript is not None else "",
            confidence=_confidence(words),
            words=words,
            start=span_start / SAMPLE_RATE,
            duration=(end - span_start) / SAMPLE_RATE,
            is_final=final,
            speech_final=speech_final,
            from_finalize=from_finalize,
        )

    def _detected(self, transcript: Transcript) -> None:
        """The first confident language detection holds for the rest of the stream."""
        probability = transcript.language_probability or 0.0
        if self.language is None and transcript.language and probability >= 0.5:
            self.language, self.language_probability = transcript.language, probability

    def _emit(self, event: LiveEvent) -> None:
        self._events.put_nowait(event)

    @staticmethod
    def _seconds(seconds: float) -> int:
        return round(seconds * SAMPLE_RATE)


def _confidence(words: tuple[Word, ...]) -> float:
    return float(np.mean([word.probability for word in words])) if words else 0.0
