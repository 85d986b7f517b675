"""Test speech made at run time, never committed: ``make_speech`` has espeak-ng say a known
text and FFmpeg put it in any container; ``word_error_rate`` compares a transcript with that
text after the normalisation both sides need (case, punctuation)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from v100.media._ffmpeg import ffmpeg_path

__all__ = ["espeak_ng", "make_silence", "make_speech", "normalise_words", "word_error_rate"]


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
) -> Path:
    """``text`` spoken by espeak-ng's ``voice``, in the container named by ``path``'s suffix
    (.wav, .ogg, .mp3, .m4a...), with optional digital silence around it; ``sample_rate``
    resamples espeak-ng's 22.05 kHz (16000 leaves decoders nothing to resample)."""
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
        _ffmpeg(*args, str(path))
    return path


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
