"""Test speech made at run time, never committed: ``make_speech`` has espeak-ng say a known
text and FFmpeg put it in any container; ``make_conversation`` strings turns of several voices
together and says when each was spoken; ``word_error_rate`` compares a transcript with the
known text after the normalisation both sides need (case, punctuation)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from v100.media._ffmpeg import ffmpeg_path

__all__ = [
    "SpokenTurn",
    "Utterance",
    "Voice",
    "espeak_ng",
    "make_conversation",
    "make_silence",
    "make_speech",
    "make_utterances",
    "normalise_words",
    "speaker_accuracy",
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
    pitch: int | None = None,
    silence_before: float = 0.0,
    silence_after: float = 0.0,
    sample_rate: int | None = None,
    codec: str | None = None,
) -> Path:
    """``text`` spoken by espeak-ng's ``voice``, in the container named by ``path``'s suffix
    (.wav, .ogg, .mp3, .m4a...), with optional digital silence around it; ``pitch`` is
    espeak-ng's ``-p`` (0-99, 50 by default); ``sample_rate`` resamples espeak-ng's 22.05 kHz
    (16000 leaves decoders nothing to resample); ``codec`` names FFmpeg's encoder where the
    container's default is not wanted ("libopus" in .ogg)."""
    binary = espeak_ng()
    if binary is None:
        raise RuntimeError("espeak-ng is not installed (Debian package espeak-ng)")
    path = Path(path)
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "speech.wav"
        pitched = [] if pitch is None else ["-p", str(pitch)]
        subprocess.run(  # noqa: S603 - our own binary and arguments
            [binary, "-v", voice, "-s", str(words_per_minute), *pitched, "-w", str(raw), text],
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


@dataclass(frozen=True, slots=True)
class Voice:
    """An espeak-ng voice and variant (``en-us+m3``), its pitch (``-p``) and speed."""

    name: str
    pitch: int = 50
    words_per_minute: int = 150


@dataclass(frozen=True, slots=True)
class SpokenTurn:
    """One turn of a made conversation: who said ``text`` (an index into the voices), and
    when (seconds: espeak-ng's own lead-in and tail included, the pause after excluded)."""

    speaker: int
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


def make_conversation(
    path: str | Path,
    voices: Sequence[Voice],
    turns: Sequence[tuple[int, str]],
    *,
    pause: float = 0.5,
) -> list[SpokenTurn]:
    """``turns`` (voice index, text) said one after another by ``voices``, ``pause`` seconds
    of silence after each, joined by FFmpeg's concat demuxer into ``path``'s container; the
    turns' times, to score who-spoke-when against."""
    path = Path(path)
    spoken: list[SpokenTurn] = []
    with tempfile.TemporaryDirectory() as scratch:
        at = 0.0
        listing = Path(scratch) / "turns.txt"
        parts = []
        for i, (speaker, text) in enumerate(turns):
            voice = voices[speaker]
            part = make_speech(
                Path(scratch) / f"turn-{i}.wav", text, voice=voice.name,
                words_per_minute=voice.words_per_minute, pitch=voice.pitch,
                silence_after=pause, sample_rate=16_000,
            )  # fmt: skip
            with wave.open(str(part)) as reader:
                seconds = reader.getnframes() / reader.getframerate()
            spoken.append(SpokenTurn(speaker, text, at, at + seconds - pause))
            at += seconds
            parts.append(f"file '{part}'")
        listing.write_text("\n".join(parts) + "\n")
        _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), str(path))
    return spoken


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


class _SpokenWord(Protocol):
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def speaker(self) -> int | None: ...


def speaker_accuracy(words: Sequence[_SpokenWord], turns: Sequence[SpokenTurn]) -> float:
    """The share of ``words`` given the right speaker: each word's true speaker is the turn it
    overlaps most (else the nearest), and the found speakers are matched to the true ones by
    the best one-to-one assignment (scipy's ``linear_sum_assignment``); a word with no
    speaker, or with a speaker left unmatched, counts as wrong. 1.0 when there are no words."""
    from scipy.optimize import linear_sum_assignment

    if not words:
        return 1.0
    truth = [_true_speaker(word, turns) for word in words]
    found = {word.speaker for word in words if word.speaker is not None}
    labels = sorted(found)
    speakers = max(turn.speaker for turn in turns) + 1
    counts = [[0] * speakers for _ in labels]
    for word, true in zip(words, truth, strict=True):
        if word.speaker is not None:
            counts[labels.index(word.speaker)][true] += 1
    if not labels:
        return 0.0
    rows, columns = linear_sum_assignment(counts, maximize=True)
    right = sum(int(counts[row][column]) for row, column in zip(rows, columns, strict=True))
    return right / len(words)


def _true_speaker(word: _SpokenWord, turns: Sequence[SpokenTurn]) -> int:
    def distance(turn: SpokenTurn) -> float:
        overlap = min(word.end, turn.end) - max(word.start, turn.start)
        return -overlap if overlap > 0 else max(turn.start - word.end, word.start - turn.end)

    return min(turns, key=distance).speaker


def _ffmpeg(*args: str) -> None:
    subprocess.run(  # noqa: S603 - our own binary and arguments
        [ffmpeg_path(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args],
        check=True,
        capture_output=True,
    )
