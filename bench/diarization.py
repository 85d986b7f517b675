"""Local speaker diarization (issue 14's figure) on conversations of 60-90 s made by espeak-ng
from known turns: the share of words given the right speaker (found speakers matched to true
ones by the best assignment) and the number of speakers found without being told, for two
voices, three voices, three voices under white noise (about 20 dB SNR), three voices of which
two are close variants of one espeak-ng voice, and one voice; then diarization time as a
fraction of the audio's length and peak memory (RSS). Run by hand, not in CI:

    .venv/bin/python bench/diarization.py [--runs 2] [--thresholds 0.2,0.25,0.3]

The diarizer runs in a process of its own (its peak RSS is its own: torch, resemblyzer, the
embeddings), warmed up first; Whisper base gives the words in another. ``--thresholds`` also
prints the speakers found and the accuracy at each clustering threshold (ADR 0037). Needs
espeak-ng and the ``diarization`` extra."""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from v100.ai.asr import LocalWhisper
from v100.ai.audio import SAMPLE_RATE, load_pcm
from v100.ai.diarization import (
    Diarization,
    DiarizationSettings,
    LocalDiarizer,
    SpeakerTurn,
    label_speakers,
)
from v100.ai.testing import SpokenTurn, Voice, make_conversation, speaker_accuracy

SENTENCES = [
    "Good morning, thanks for joining the call today.",
    "Morning. Did everyone get the agenda I sent last night?",
    "Yes, I read it on the train. The first item is the release date.",
    "Right. We planned to ship on Monday, but testing is not finished.",
    "How many bugs are still open in the tracker?",
    "Twelve, and three of them block the payment page.",
    "Then we should move the date by one week at least.",
    "I agree. Let us tell the support team this afternoon.",
    "What about the budget for the new servers?",
    "We spent a little more than planned, mostly on storage.",
    "Can we move the nightly jobs to a cheaper machine?",
    "Probably, I will measure the cost and report next week.",
    "Good. The second item is hiring for the design team.",
    "We have two candidates for the senior position.",
    "I liked the second one, her portfolio was very strong.",
    "Let us invite her for a final interview on Thursday.",
    "Who will write the offer letter if she accepts?",
    "I can do that, I have a template from last year.",
    "Great. Anything else before we close the meeting?",
    "Only that the office is closed on Friday for cleaning.",
    "Thanks everyone, talk to you on Monday.",
    "The weather looks nice for the weekend trip to the lake.",
    "Remember to bring a jacket, the evenings are cold there.",
    "I will drive, the car has room for four people.",
]
M3, F4, KLATT2, M7 = (
    Voice("en-us+m3", pitch=40),
    Voice("en-us+f4", pitch=70),
    Voice("en-us+klatt2", pitch=30),
    Voice("en-us+m7", pitch=20),
)


@dataclass(frozen=True)
class Recording:
    name: str
    voices: tuple[Voice, ...]
    turns: int
    noise_db: float | None = None  # white noise at this level (dBFS), None: clean


RECORDINGS = [
    Recording("two voices", (M3, F4), 20),
    Recording("three voices", (M3, F4, KLATT2), 22),
    Recording("three voices, noise", (M3, F4, KLATT2), 22, noise_db=-40.0),
    Recording("three voices, two close", (M3, F4, M7), 22),
    Recording("one voice", (M3,), 18),
]


def _script(speakers: int, turns: int, seed: int) -> list[tuple[int, str]]:
    """Who says what: each turn another speaker than the last, chosen at random."""
    rng = np.random.default_rng(seed)
    said, last = [], -1
    for i in range(turns):
        speaker = int(rng.integers(speakers))
        while speakers > 1 and speaker == last:
            speaker = int(rng.integers(speakers))
        said.append((speaker, SENTENCES[i % len(SENTENCES)]))
        last = speaker
    return said


def _make(recording: Recording, seed: int, scratch: Path) -> tuple[Path, list[SpokenTurn]]:
    path = scratch / f"{recording.name.replace(' ', '-').replace(',', '')}.wav"
    script = _script(len(recording.voices), recording.turns, seed)
    turns = make_conversation(path, recording.voices, script)
    if recording.noise_db is not None:
        pcm = load_pcm(path)
        noise = np.random.default_rng(seed).standard_normal(pcm.size) * 10 ** (
            recording.noise_db / 20
        )
        noisy = np.clip(pcm + noise, -1, 1).astype(np.float32)
        path = path.with_suffix(".f32")
        noisy.tofile(path)
    return path, turns


def _pcm(path: Path) -> np.ndarray:
    return np.fromfile(path, dtype=np.float32) if path.suffix == ".f32" else load_pcm(path)


def _child(paths: list[Path], runs: int, thresholds: list[float]) -> dict[str, Any]:
    """In its own process: each recording diarized ``runs`` times (timed after a warm-up),
    and once per extra threshold."""
    diarizer = LocalDiarizer()
    pcms = [_pcm(path) for path in paths]
    diarizer.diarize(pcms[0])  # warm-up: the model, first-call allocations
    out: dict[str, Any] = {"recordings": []}
    for pcm in pcms:
        seconds, cpu = [], []
        for _ in range(runs):
            started, started_cpu = time.perf_counter(), time.process_time()
            diarization = diarizer.diarize(pcm)
            seconds.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        swept = {}
        for threshold in thresholds:
            settings = replace(diarizer.settings, threshold=threshold)
            swept[str(threshold)] = _turns(LocalDiarizer(settings=settings).diarize(pcm))
        out["recordings"].append(
            {"seconds": seconds, "cpu_seconds": cpu, "turns": _turns(diarization), "swept": swept}
        )
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _turns(diarization: Diarization) -> list[dict[str, Any]]:
    return [asdict(turn) for turn in diarization.turns]


def _diarization(turns: list[dict[str, Any]], duration: float) -> Diarization:
    return Diarization(tuple(SpeakerTurn(**turn) for turn in turns), duration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--thresholds", default="", help="comma-separated, e.g. 0.2,0.25,0.3")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",") if t]
    if args.child:
        print(json.dumps(_child([Path(p) for p in args.child], args.runs, thresholds)))
        return

    with tempfile.TemporaryDirectory(prefix="v100-bench-diarization-") as scratch:
        made = [_make(r, args.seed + i, Path(scratch)) for i, r in enumerate(RECORDINGS)]
        child = subprocess.run(
            [sys.executable, __file__, "--runs", str(args.runs), "--thresholds",
             args.thresholds, "--child", *(str(path) for path, _ in made)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        measured = json.loads(child.stdout.strip().splitlines()[-1])
        whisper = LocalWhisper(cache_dir=Path(scratch) / "models")
        rows = []
        for recording, (path, truth), result in zip(
            RECORDINGS, made, measured["recordings"], strict=True
        ):
            pcm = _pcm(path)
            duration = pcm.size / SAMPLE_RATE
            transcript = whisper.transcribe(pcm)
            diarization = _diarization(result["turns"], duration)
            words = label_speakers(transcript, diarization).words
            swept = {
                threshold: (
                    _diarization(turns, duration).speakers,
                    speaker_accuracy(
                        label_speakers(transcript, _diarization(turns, duration)).words, truth
                    ),
                )
                for threshold, turns in result["swept"].items()
            }
            rows.append(
                {
                    "recording": recording.name,
                    "audio_seconds": round(duration, 1),
                    "turns": len(truth),
                    "words": len(words),
                    "speakers": len(recording.voices),
                    "speakers_found": diarization.speakers,
                    "right_speaker": round(speaker_accuracy(words, truth), 4),
                    "seconds_median": round(statistics.median(result["seconds"]), 2),
                    "cpu_seconds_median": round(statistics.median(result["cpu_seconds"]), 2),
                    "time_per_audio_second": round(
                        statistics.median(result["seconds"]) / duration, 4
                    ),
                    "by_threshold": {t: f"{n} found, {a:.1%}" for t, (n, a) in swept.items()},
                }
            )
        whisper.close()
    settings = DiarizationSettings()
    shown = ("window", "hop", "context", "threshold", "min_speech", "min_turn")
    print(json.dumps({"settings": {name: getattr(settings, name) for name in shown}}))
    print(json.dumps({"runs": args.runs, "diarizer_peak_rss_mb": round(measured["peak_rss_mb"])}))
    for row in rows:
        print(json.dumps(row))
    for row in rows:
        print(
            f"{row['recording']:<24} {row['audio_seconds']:>5.1f} s  speakers "
            f"{row['speakers_found']}/{row['speakers']}  right speaker "
            f"{row['right_speaker']:.1%} of {row['words']} words  diarization "
            f"{row['time_per_audio_second']:.3f} x audio (CPU {row['cpu_seconds_median']} s)"
        )


if __name__ == "__main__":
    main()
