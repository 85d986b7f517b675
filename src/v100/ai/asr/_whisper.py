"""The local backend: faster-whisper (CTranslate2, int8 on the CPU) with the Whisper base
weights from their packages. Silero VAD (``v100.ai.vad``) finds the speech first; only those
regions are decoded, and the times are mapped back onto the original audio, so silence gives
an empty transcript rather than invented text (faster-whisper#506, #843). A file is decoded to
disk (``v100.ai.audio.decode_pcm``) and read a slice at a time, and the speech goes to the
model a few minutes at a time, so a 3-hour file takes no more memory than a 5-minute one."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from v100.ai.asr._transcript import AudioSource, Transcript, TranscriptSegment, Word
from v100.ai.asr._weights import whisper_base_dir
from v100.ai.audio import SAMPLE_RATE, Pcm, PcmFile, PcmSource, decode_pcm
from v100.ai.vad import SpeechRegion, VadSettings, speech_regions

__all__ = ["DECODE_OPTIONS", "LanguageDetection", "LocalWhisper", "default_model_cache"]

T = TypeVar("T")

# How we decode. The benchmark calls faster-whisper directly with these same options.
DECODE_OPTIONS: dict[str, Any] = {
    "beam_size": 5,
    "word_timestamps": True,
    "condition_on_previous_text": True,
}

# Speech given to the model in one call, at most. faster-whisper computes the features of all
# it is given at once (about 60 MB of transient memory per minute of speech), so longer speech
# goes in batches of whole regions, a region longer than this cut at its quietest 32 ms near
# the limit (docs/ai.md has the figures).
BATCH_SECONDS = 300.0
# How far before the limit that quiet point is looked for (at most half the limit).
_CUT_SEARCH_SECONDS = 10.0
# Whisper's language detector reads the first 30 s of speech.
_DETECT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class LanguageDetection:
    language: str
    probability: float
    # The runners-up, best first (Whisper knows 99 languages).
    candidates: tuple[tuple[str, float], ...]


def default_model_cache() -> Path:
    """``<V100_VAR_DIR>/models``: the platform's var dir, where joined weights are kept."""
    from v100.kit.settings import PlatformSettings

    return PlatformSettings().var_dir / "models"


def _cpu_threads() -> int:
    # CTranslate2's intra-op threads: every core this process may use, at most 4 (base gains
    # little past that); 2 on these machines.
    return max(1, min(4, len(os.sched_getaffinity(0))))


# Loaded models, for the process, by (weights directory, threads, pool): every LocalWhisper of
# one pool shares one model, so an app started again in the same process (tests start hundreds)
# does not load it again (0.5 s on idle cores, 3-5 s on loaded ones). A second pool ("live")
# has a model of its own, so its calls never queue behind another pool's long file.
_MODELS: dict[tuple[Path, int, str], Any] = {}
_MODELS_LOCK = threading.Lock()


class LocalWhisper:
    """Whisper base, int8, on the CPU. The model loads on first use (about 1 s, 200 MB of
    memory) and is kept for the process, shared by the instances of one ``pool``;
    ``transcribe`` blocks, ``transcribe_async`` runs it on this backend's own thread so the
    event loop goes on and two requests queue rather than fight for the same cores."""

    name = "local-whisper"

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        cpu_threads: int | None = None,
        vad: VadSettings | None = None,
        batch_seconds: float = BATCH_SECONDS,
        pool: str = "files",
    ) -> None:
        self._cache_dir = cache_dir
        self._pool = pool
        self._cpu_threads = cpu_threads or _cpu_threads()
        self._vad = vad or VadSettings()
        self._batch = int(batch_seconds * SAMPLE_RATE)
        self._model: Any = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper")
        self._queued = 0  # calls given to the thread and not finished yet
        self._queued_lock = threading.Lock()  # not ``_lock``: loading holds that for a second

    # --- loading -------------------------------------------------------------------------

    def model(self) -> Any:
        """The faster-whisper ``WhisperModel``, loaded once (thread-safe)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    async def load_async(self) -> None:
        """Load the model now, on this backend's thread (a live session does it before its
        first words, so they do not wait for it)."""
        await self._on_thread(self.model)

    def _load(self) -> Any:
        # Never reach a hub: the weights come from the packages, joined on this disk.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from faster_whisper import WhisperModel

        directory = whisper_base_dir(self._cache_dir or default_model_cache())
        key = (directory, self._cpu_threads, self._pool)
        with _MODELS_LOCK:
            model = _MODELS.get(key)
            if model is None:
                model = _MODELS[key] = WhisperModel(
                    str(directory),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=self._cpu_threads,
                    num_workers=1,
                    local_files_only=True,
                )
            return model

    def close(self) -> None:
        """Stop this backend's thread (the loaded model stays with the process's pool)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- transcription -------------------------------------------------------------------

    def transcribe(self, audio: AudioSource, language: str | None = None) -> Transcript:
        with _readable(audio) as pcm:
            return self._transcribe(pcm, language)

    def _transcribe(self, pcm: PcmSource, language: str | None) -> Transcript:
        duration = pcm.size / SAMPLE_RATE
        regions = speech_regions(pcm, self._vad)
        if not regions:
            return Transcript(
                segments=(),
                language=language,
                language_probability=1.0 if language else None,
                duration=duration,
                speech_duration=0.0,
                backend=self.name,
            )
        model = self.model()
        named = language
        segments: list[TranscriptSegment] = []
        probability: float | None = None
        speech_samples = 0
        for batch in _batches(pcm, regions, self._batch):
            speech = np.concatenate([pcm[r.start : r.end] for r in batch])
            speech_samples += speech.size
            found, info = model.transcribe(
                speech, language=language, vad_filter=False, **DECODE_OPTIONS
            )
            timeline = _Timeline(batch)
            segments.extend(_segment(timeline.restore(segment), duration) for segment in found)
            if probability is None:  # the first batch names the language for the rest
                language, probability = info.language, float(info.language_probability)
        if not segments and named is None:  # what the VAD let through held no words
            language, probability = None, None
        return Transcript(
            segments=tuple(segments),
            language=language,
            language_probability=probability,
            duration=duration,
            speech_duration=speech_samples / SAMPLE_RATE,
            backend=self.name,
        )

    async def transcribe_async(self, audio: AudioSource, language: str | None = None) -> Transcript:
        return await self._on_thread(lambda: self.transcribe(audio, language))

    def decode(self, pcm: Pcm, language: str | None = None, **options: Any) -> Transcript:
        """``pcm`` decoded as it is, with no VAD first: for a caller that found the speech
        itself (the live engine). ``options`` are faster-whisper's, over ``DECODE_OPTIONS``.
        Times are from the start of ``pcm``."""
        pcm = _one_channel(pcm)
        duration = pcm.size / SAMPLE_RATE
        segments, info = self.model().transcribe(
            pcm, language=language, vad_filter=False, **{**DECODE_OPTIONS, **options}
        )
        return Transcript(
            segments=tuple(_segment(segment, duration) for segment in segments),
            language=info.language,
            language_probability=float(info.language_probability),
            duration=duration,
            speech_duration=duration,
            backend=self.name,
        )

    async def decode_async(
        self, pcm: Pcm, language: str | None = None, **options: Any
    ) -> Transcript:
        return await self._on_thread(lambda: self.decode(pcm, language, **options))

    @property
    def busy(self) -> bool:
        """Whether this backend's thread has work queued or running (from the event loop)."""
        return self._queued > 0

    async def _on_thread(self, call: Callable[[], T]) -> T:
        """``call`` on this backend's own thread; ``busy`` until it has finished there (a
        caller that stops waiting does not stop the thread)."""
        with self._queued_lock:
            self._queued += 1
        future = self._executor.submit(call)
        future.add_done_callback(self._finished)
        return await asyncio.wrap_future(future)

    def _finished(self, _: object) -> None:
        with self._queued_lock:
            self._queued -= 1

    # --- language ------------------------------------------------------------------------

    def detect_language(self, audio: AudioSource) -> LanguageDetection | None:
        """Whisper's own detector on the first 30 s of speech; None when there is none."""
        with _readable(audio) as pcm:
            regions: list[SpeechRegion] = speech_regions(pcm, self._vad)
            wanted = int(_DETECT_SECONDS * SAMPLE_RATE)
            pieces, size = [], 0
            for region in regions:
                if size >= wanted:
                    break
                pieces.append(pcm[region.start : min(region.end, region.start + wanted - size)])
                size += pieces[-1].size
        if not pieces:
            return None
        language, probability, ranked = self.model().detect_language(audio=np.concatenate(pieces))
        return LanguageDetection(
            language=str(language),
            probability=float(probability),
            candidates=tuple((str(code), float(p)) for code, p in ranked[:5]),
        )

    async def detect_language_async(self, audio: AudioSource) -> LanguageDetection | None:
        return await self._on_thread(lambda: self.detect_language(audio))


@contextlib.contextmanager
def _readable(audio: AudioSource) -> Iterator[PcmSource]:
    """Samples to read: an array or a ``PcmFile`` as given, a media file decoded to a
    temporary ``PcmFile`` (removed after)."""
    if isinstance(audio, PcmFile):
        yield audio
    elif isinstance(audio, str | Path):
        with tempfile.TemporaryDirectory(prefix="v100-asr-") as scratch:
            yield decode_pcm(audio, Path(scratch) / "pcm.f32")
    else:
        yield _one_channel(audio)


def _one_channel(audio: Pcm) -> Pcm:
    pcm = np.asarray(audio, dtype=np.float32)
    if pcm.ndim != 1:
        raise ValueError("PCM must be one channel: a 1-D array of 16 kHz float32 samples")
    return np.ascontiguousarray(pcm)


def _batches(
    pcm: PcmSource, regions: list[SpeechRegion], limit: int
) -> Iterator[list[SpeechRegion]]:
    """Consecutive regions grouped into batches of at most ``limit`` samples; a region longer
    than that is first cut into pieces (each at its quietest window near the limit)."""
    batch: list[SpeechRegion] = []
    size = 0
    for piece in _pieces(pcm, regions, limit):
        length = piece.end - piece.start
        if batch and size + length > limit:
            yield batch
            batch, size = [], 0
        batch.append(piece)
        size += length
    if batch:
        yield batch


def _pieces(pcm: PcmSource, regions: list[SpeechRegion], limit: int) -> Iterator[SpeechRegion]:
    window = 512
    search = min(int(_CUT_SEARCH_SECONDS * SAMPLE_RATE), limit // 2)
    for region in regions:
        start = region.start
        while region.end - start > limit:
            # The quietest 32 ms window (least energy) in the last seconds before the limit.
            near = pcm[start + limit - search : start + limit]
            frames = near[: near.size // window * window].reshape(-1, window)
            quietest = int(np.argmin(np.einsum("ij,ij->i", frames, frames)))
            cut = start + limit - search + quietest * window + window // 2
            yield SpeechRegion(start, cut)
            start = cut
        yield SpeechRegion(start, region.end)


class _Timeline:
    """Regions given to the model back to back, and the way from a time in that speech back to
    the original audio. faster-whisper's ``restore_speech_timestamps`` puts a word in the
    region of its middle; a word the aligner stretches over the join of two regions (the first
    word after a pause often is) then lands in the wrong one, minutes or hours away from where
    it was said. Here such a word goes where its neighbours in the segment are."""

    def __init__(self, regions: list[SpeechRegion]) -> None:
        self.starts: list[float] = []  # each region's start and end in the speech given
        self.ends: list[float] = []
        self.shifts: list[float] = []  # what to add to go back to the original audio
        at = 0.0
        for region in regions:
            length = (region.end - region.start) / SAMPLE_RATE
            self.starts.append(at)
            self.ends.append(at + length)
            self.shifts.append(region.start_s - at)
            at += length

    def region_of(self, time: float) -> int:
        return min(bisect.bisect_right(self.ends, time), len(self.ends) - 1)

    def original(self, time: float, region: int) -> float:
        inside = min(max(time, self.starts[region]), self.ends[region])
        return round(inside + self.shifts[region], 3)

    def restore(self, segment: Any) -> Any:
        """``segment`` (faster-whisper's) with its words' and its own times on the original."""
        words = list(segment.words or ())
        if not words:
            segment.start = self.original(segment.start, self.region_of(segment.start))
            segment.end = self.original(segment.end, self.region_of(segment.start))
            return segment
        middles = [self.region_of((word.start + word.end) / 2) for word in words]
        for i, word in enumerate(words):
            first, last = self.region_of(word.start), self.region_of(max(word.start, word.end))
            region = middles[i]
            if first != last:  # over a join: beside its neighbours, when they agree
                beside = {middles[j] for j in (i - 1, i + 1) if 0 <= j < len(words)}
                if len(beside) == 1:
                    region = min(max(beside.pop(), first), last)
            word.start = self.original(word.start, region)
            word.end = self.original(word.end, region)
        segment.start, segment.end = words[0].start, words[-1].end
        return segment


def _segment(segment: Any, duration: float) -> TranscriptSegment:
    start = _clamp(segment.start, 0.0, duration)
    end = _clamp(segment.end, start, duration)
    words = tuple(_word(word, start, end) for word in (segment.words or ()))
    return TranscriptSegment(
        text=str(segment.text).strip(),
        start=start,
        end=end,
        words=words,
        avg_logprob=float(segment.avg_logprob),
        no_speech_prob=float(segment.no_speech_prob),
    )


def _word(word: Any, seg_start: float, seg_end: float) -> Word:
    """A word whose alignment failed (no time, or a time outside its segment) carries the
    segment's timing and says so, rather than having none."""
    start, end = word.start, word.end
    aligned = bool(
        start is not None and end is not None and seg_start - 0.5 <= start <= end <= seg_end + 0.5
    )
    if not aligned:
        start, end = seg_start, seg_end
    return Word(
        text=str(word.word).strip(),
        start=_clamp(float(start), seg_start, seg_end),
        end=_clamp(float(end), seg_start, seg_end),
        probability=float(word.probability),
        aligned=aligned,
    )


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(float(value), low), high)
