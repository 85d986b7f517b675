"""The local diarizer: resemblyzer's ``VoiceEncoder`` (a 3-layer LSTM speaker encoder, its
weights inside the package, on PyTorch's CPU build) embeds sliding windows of the speech the
VAD finds; the windows are clustered without knowing the speaker count (``_clustering``) and
turned into speaker turns (``_timeline``). In the optional ``diarization`` extra: torch and
resemblyzer are imported on first use only, and ``diarization_available()`` says whether they
are installed."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from v100.ai.audio import SAMPLE_RATE, PcmFile, PcmSource
from v100.ai.diarization._clustering import cluster_speakers, in_context
from v100.ai.diarization._timeline import speaker_turns
from v100.ai.diarization._types import Diarization
from v100.ai.vad import SpeechRegion, VadSettings, speech_regions

__all__ = ["DiarizationSettings", "LocalDiarizer", "diarization_available"]

# resemblyzer's mel frames: 10 ms each; its embeddings are trained on 160 of them (1.6 s).
_FRAME = SAMPLE_RATE // 100
# Windows embedded in one forward pass (bounds the memory of a long recording).
_BATCH = 64


def diarization_available() -> bool:
    """Whether the ``diarization`` extra (resemblyzer, torch) is installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("resemblyzer", "torch"))


@dataclass(frozen=True, slots=True)
class DiarizationSettings:
    """Measured on espeak-ng voices (bench/diarization.py, ADR 0037)."""

    # Sliding windows inside each speech region: resemblyzer's own 1.6 s, every ``hop``.
    window: float = 1.6
    hop: float = 0.4
    # Speech shorter than this gets no embedding of its own (the nearest speaker's).
    min_window: float = 0.5
    # Each window's embedding is averaged with this many neighbours either side (same region)
    # before clustering.
    context: int = 3
    # Cosine distance under which two groups of windows are one voice (average linkage).
    threshold: float = 0.25
    # A voice heard for less than this (in windows' hops) is not a speaker of its own: a
    # cluster that small is a cough, a laugh, windows across a change of speaker.
    min_speech: float = 3.0
    # A run shorter than this against another speaker's speech joins it.
    min_turn: float = 0.6
    max_clustered: int = 3000
    # Finer than transcription's: a pause between two speakers splits their regions.
    vad: VadSettings = field(default_factory=lambda: VadSettings(min_silence_ms=300, pad_ms=100))


def _cpu_threads() -> int:
    return max(1, min(4, len(os.sched_getaffinity(0))))


# The loaded encoder, for the process, by threads: a diarizer made again in the same process
# (an app started again: tests start hundreds) does not load it again.
_ENCODERS: dict[int, Any] = {}
_ENCODERS_LOCK = threading.Lock()


class LocalDiarizer:
    """Speaker diarization on this machine's CPU. The encoder loads on first use (about 1-2 s,
    torch's import included) and is kept for the process; ``diarize`` blocks,
    ``diarize_async`` runs it on this diarizer's own thread."""

    name = "local-resemblyzer"

    def __init__(
        self, *, settings: DiarizationSettings | None = None, cpu_threads: int | None = None
    ) -> None:
        self.settings = settings or DiarizationSettings()
        self._cpu_threads = cpu_threads or _cpu_threads()
        self._encoder: Any = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="diarizer")

    def encoder(self) -> Any:
        """resemblyzer's ``VoiceEncoder`` on the CPU, loaded once (thread-safe)."""
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    self._encoder = self._load()
        return self._encoder

    def _load(self) -> Any:
        with warnings.catch_warnings():
            # resemblyzer's own imports: webrtcvad's of the deprecated pkg_resources, and its
            # of binary_dilation from scipy.ndimage.morphology (deprecated by SciPy 1.8).
            warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
            warnings.filterwarnings("ignore", "Please import `binary_dilation`", DeprecationWarning)
            import torch
            from resemblyzer import VoiceEncoder

        with _ENCODERS_LOCK:
            encoder = _ENCODERS.get(self._cpu_threads)
            if encoder is None:
                torch.set_num_threads(self._cpu_threads)
                encoder = _ENCODERS[self._cpu_threads] = VoiceEncoder("cpu", verbose=False)
            return encoder

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def diarize(self, pcm: PcmSource) -> Diarization:
        """Who spoke when in ``pcm``: samples in memory, or decoded samples on disk (a
        ``PcmFile``, read window by window)."""
        if not isinstance(pcm, PcmFile):
            pcm = np.asarray(pcm, dtype=np.float32)
            if pcm.ndim != 1:
                raise ValueError("PCM must be one channel: a 1-D array of 16 kHz float32 samples")
        duration = pcm.size / SAMPLE_RATE
        settings = self.settings
        regions = speech_regions(pcm, settings.vad)
        windows, groups = _windows(regions, settings)
        if not windows:
            return Diarization((), duration)
        embeddings = self._embed(pcm, windows, _gain(pcm, regions))
        embeddings = in_context(embeddings, groups, settings.context)
        size = _window_samples(settings.window)
        anchors = np.array([end - start == size for start, end in windows])
        labels = cluster_speakers(
            embeddings, anchors, threshold=settings.threshold,
            min_size=math.ceil(settings.min_speech / settings.hop),
            max_clustered=settings.max_clustered,
        )  # fmt: skip
        turns = speaker_turns(regions, windows, labels, min_turn=settings.min_turn)
        return Diarization(turns, duration)

    async def diarize_async(self, pcm: PcmSource) -> Diarization:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.diarize, pcm)

    def _embed(
        self, pcm: PcmSource, windows: list[tuple[int, int]], gain: np.float32
    ) -> np.ndarray:
        """One L2-normed 256-d embedding per window (its samples times ``gain``); windows of
        one length share a pass. Only a batch of windows is copied at a time: a 3-hour
        recording is not held twice."""
        encoder = self.encoder()  # first: it imports resemblyzer with its warnings silenced
        import torch
        from resemblyzer.audio import wav_to_mel_spectrogram

        by_length: dict[int, list[int]] = {}
        for i, (start, end) in enumerate(windows):
            by_length.setdefault((end - start) // _FRAME, []).append(i)
        out = np.empty((len(windows), 256), dtype=np.float32)
        with torch.inference_mode():
            for frames, members in by_length.items():
                for first in range(0, len(members), _BATCH):
                    batch = members[first : first + _BATCH]
                    mels = np.stack(
                        [
                            wav_to_mel_spectrogram(pcm[windows[i][0] : windows[i][1]] * gain)[
                                :frames
                            ]
                            for i in batch
                        ]
                    )
                    out[batch] = encoder(torch.from_numpy(mels)).numpy()
        return out


def _windows(
    regions: list[SpeechRegion], settings: DiarizationSettings
) -> tuple[list[tuple[int, int]], npt.NDArray[np.int64]]:
    """Sample spans of ``window`` seconds every ``hop`` inside each region, the last one
    flush with the region's end (a region shorter than a window is one window of its own),
    and the index of each one's region."""
    size, hop = _window_samples(settings.window), _window_samples(settings.hop)
    shortest = int(settings.min_window * SAMPLE_RATE)
    found: list[tuple[int, int]] = []
    groups: list[int] = []
    for index, region in enumerate(regions):
        length = region.end - region.start
        if length < shortest:
            continue
        if length <= size:
            found.append((region.start, region.start + length // _FRAME * _FRAME))
            groups.append(index)
            continue
        starts = list(range(region.start, region.end - size + 1, hop))
        if starts[-1] + size < region.end:
            starts.append(region.end - size)
        found += [(start, start + size) for start in starts]
        groups += [index] * len(starts)
    return found, np.array(groups, dtype=np.int64)


def _window_samples(seconds: float) -> int:
    """``seconds`` as whole mel frames, in samples."""
    return int(seconds * SAMPLE_RATE) // _FRAME * _FRAME


def _gain(pcm: PcmSource, regions: list[SpeechRegion]) -> np.float32:
    """What brings the speech up to -30 dBFS (never down), as resemblyzer's own preprocessing
    does: its mel spectrograms are not logarithmic, so loudness matters to the encoder."""
    energy = sum(float(np.dot(pcm[r.start : r.end], pcm[r.start : r.end])) for r in regions)
    samples = sum(r.end - r.start for r in regions)
    rms = (energy / samples) ** 0.5 if samples else 0.0
    return np.float32(max(1.0, 10 ** (-30 / 20) / rms) if rms > 0 else 1.0)
