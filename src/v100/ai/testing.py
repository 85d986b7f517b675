"""Test speech made at run time, never committed: ``make_speech`` has espeak-ng say a known
text and FFmpeg put it in any container; ``word_error_rate`` compares a transcript with that
text after the normalisation both sides need (case, punctuation)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from v100.media._ffmpeg import ffmpeg_path

__all__ = [
    "Utterance",
    "espeak_ng",
    "make_silence",
    "make_speech",
    "make_utterances",
    "normalise_words",
    "word_error_rate",
]


def espeak_ng() -> str | None:
    return shutil.which("espeak-ng")


def make_speech(
    path: str | Path,
    text: str,
    *,
    voice: str = "en-us",
    words_per_minute: int = 150,
    silence_before: float = 0.0,
    silence_after: float = 0.0,
    sample_rate: int | None = None,
    codec: str | None = None,
) -> Path:
    """``text`` spoken by espeak-ng's ``voice``, in the container named by ``path``'s suffix
    (.wav, .ogg, .mp3, .m4a...), with optional digital silence around it; ``sample_rate``
    resamples espeak-ng's 22.05 kHz (16000 leaves decoders nothing to resample); ``codec``
    names FFmpeg's encoder where the container's default is not wanted ("libopus" in .ogg)."""
    binary = espeak_ng()
    if binary is None:
        raise RuntimeError("espeak-ng is not installed (Debian package espeak-ng)")
    path = Path(path)
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "speech.wav"
        subprocess.run(  # noqa: S603 - our own binary and arguments
            [binary, "-v", voice, "-s", str(words_per_minute), "-w", str(raw), text],
            check=True,
            capture_output=True,
        )
        filters = []
        if silence_before:
            ms = int(silence_before * 1000)
            filters.append(f"adelay={ms}:all=1")
        if silence_after:
            filters.append(f"apad=pad_dur={silence_after}")
        args = ["-i", str(raw)]
        if filters:
            args += ["-af", ",".join(filters)]
        if sample_rate:
            args += ["-ar", str(sample_rate)]
        if codec:
            args += ["-c:a", codec]
        _ffmpeg(*args, str(path))
    return path


@dataclass(frozen=True, slots=True)
class Utterance:
    """One text said in a stream made by ``make_utterances``: where its sound starts and ends
    (seconds from the stream's start)."""

    text: str
    start: float
    end: float


def make_utterances(
    directory: str | Path,
    texts: list[str],
    *,
    pause: float = 1.5,
    lead: float = 0.5,
    voice: str = "en-us",
) -> tuple[np.ndarray, list[Utterance]]:
    """``texts`` said one after another by espeak-ng with ``pause`` seconds of silence between
    them (and ``lead`` before the first, ``pause`` after the last), as 16 kHz mono float32,
    with where each is heard: its first and last sample above -40 dBFS. For live streams."""
    from v100.ai.audio import SAMPLE_RATE, load_pcm

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pieces = [np.zeros(round(lead * SAMPLE_RATE), dtype=np.float32)]
    spans: list[Utterance] = []
    at = pieces[0].size
    for index, text in enumerate(texts):
        path = make_speech(directory / f"utterance-{index}.wav", text, voice=voice,
                           sample_rate=SAMPLE_RATE)  # fmt: skip
        pcm = load_pcm(path)
        loud = np.flatnonzero(np.abs(pcm) > 0.01)
        first, last = (int(loud[0]), int(loud[-1]) + 1) if loud.size else (0, 0)
        spans.append(Utterance(text, (at + first) / SAMPLE_RATE, (at + last) / SAMPLE_RATE))
        silence = np.zeros(round(pause * SAMPLE_RATE), dtype=np.float32)
        pieces += [pcm, silence]
        at += pcm.size + silence.size
    return np.concatenate(pieces), spans


def make_silence(path: str | Path, seconds: float = 10.0) -> Path:
    """Digital silence (FFmpeg's anullsrc), 16 kHz mono, in ``path``'s container."""
    path = Path(path)
    _ffmpeg(
        "-f", "lavfi", "-i", f"anullsrc=r=16000:cl=mono:d={seconds}", str(path)
    )  # fmt: skip
    return path


def normalise_words(text: str) -> list[str]:
    """Lower case, punctuation dropped (an apostrophe inside a word kept)."""
    cleaned = re.sub(r"[^\w\s']", " ", text.lower())
    return [word.strip("'") for word in cleaned.split() if word.strip("'")]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """jiwer's WER (a dev dependency) on normalised words: (S + D + I) / reference words."""
    import jiwer

    ref, hyp = " ".join(normalise_words(reference)), " ".join(normalise_words(hypothesis))
    if not hyp:
        return 1.0 if ref else 0.0
    return float(jiwer.wer(ref, hyp))


def _ffmpeg(*args: str) -> None:
    subprocess.run(  # noqa: S603 - our own binary and arguments
        [ffmpeg_path(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args],
        check=True,
        capture_output=True,
    )
