"""A 3-hour recording through the local backend (issue 14's "a 3-hour file"): peak memory
(RSS) and wall time of ``LocalWhisper.transcribe`` on a file, and where the time goes (decoding,
voice activity, Whisper). The recording is made here: faint pink noise for 3 hours with a few
sentences of espeak-ng speech spliced in at known times, encoded as 16 kb/s Opus (about 20 MB,
made in about a minute); the word error rate over those sentences is printed too. Run by hand,
not in CI:

    .venv/bin/python bench/asr_long_file.py [--hours 3] [--dense-minutes 20]

``--dense-minutes`` adds a second recording that is speech from end to end (the same sentences
said over and over), where the VAD keeps nearly everything: the case a long meeting is.
Each measurement runs in a process of its own, so its peak RSS is its own. Needs espeak-ng."""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from v100.ai.asr import LocalWhisper, whisper_base_dir
from v100.ai.testing import make_speech, word_error_rate
from v100.media._ffmpeg import ffmpeg_path

SENTENCES = (
    "Good morning everyone, and thank you for joining the weekly planning call.",
    "Today we will review the release schedule, the support queue and the budget.",
    "The support team closed most of the tickets last week, and the replies were faster.",
    "We will move the nightly jobs to a cheaper machine and measure again next month.",
    "Please remember that the office is closed on Friday, and the next call is on Monday.",
    "If you have questions about the plan, send them to the project channel today.",
)


def make_long_recording(path: Path, seconds: float, scratch: Path) -> list[tuple[float, str]]:
    """``seconds`` of faint pink noise with ``SENTENCES`` spliced in, spread evenly (the first
    after 30 s, the last a minute before the end); Opus at 16 kb/s. The sentences and when."""
    spots = _spots(seconds)
    if path.exists():  # kept from an earlier run (--keep)
        return list(zip(spots, SENTENCES, strict=True))
    inputs = ["-f", "lavfi", "-i", f"anoisesrc=d={seconds}:c=pink:r=16000:a=0.003"]
    chains = []
    for i, (at, text) in enumerate(zip(spots, SENTENCES, strict=True), start=1):
        wav = make_speech(scratch / f"bit{i}.wav", text, sample_rate=16000)
        inputs += ["-i", str(wav)]
        ms = int(at * 1000)
        chains.append(f"[{i}]adelay={ms}:all=1[s{i}]")
    mix = "".join(f"[s{i}]" for i in range(1, len(SENTENCES) + 1))
    graph = ";".join(chains) + f";[0]{mix}amix=inputs={len(SENTENCES) + 1}:duration=first"
    graph += ":normalize=0[out]"
    _ffmpeg(*inputs, "-filter_complex", graph, "-map", "[out]", "-ac", "1",
            "-c:a", "libopus", "-b:a", "16k", str(path))  # fmt: skip
    return list(zip(spots, SENTENCES, strict=True))


def _spots(seconds: float) -> list[float]:
    return [30.0 + i * (seconds - 90.0) / (len(SENTENCES) - 1) for i in range(len(SENTENCES))]


def make_dense_recording(path: Path, seconds: float, scratch: Path) -> str:
    """Speech from end to end: the sentences, one after another, again and again (the text)."""
    said = make_speech(scratch / "all.wav", " ".join(SENTENCES), sample_rate=16000)
    if path.exists():  # kept from an earlier run (--keep)
        return " ".join(SENTENCES)
    _ffmpeg("-stream_loop", "-1", "-i", str(said), "-t", str(seconds), "-ac", "1",
            "-c:a", "libopus", "-b:a", "16k", str(path))  # fmt: skip
    return " ".join(SENTENCES)


def _ffmpeg(*args: str) -> None:
    command = [ffmpeg_path(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args]
    subprocess.run(command, check=True, capture_output=True)


def _child(audio: Path, cache: Path) -> dict[str, Any]:
    backend = LocalWhisper(cache_dir=cache)
    backend.model()
    loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started, started_cpu = time.perf_counter(), time.process_time()
    transcript = backend.transcribe(audio, language="en")
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - started_cpu,
        "audio_seconds": transcript.duration,
        "speech_seconds": transcript.speech_duration,
        "segments": [(s.start, s.end, s.text) for s in transcript.segments],
        "loaded_rss_mb": loaded_rss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _stages(audio: Path, scratch: Path) -> dict[str, Any]:
    """Decoding (to a file on disk) and the VAD alone, timed (no model loaded)."""
    from v100.ai.audio import decode_pcm
    from v100.ai.vad import speech_regions

    started = time.perf_counter()
    pcm = decode_pcm(audio, scratch / "stages.f32")
    decoded = time.perf_counter() - started
    started = time.perf_counter()
    regions = speech_regions(pcm)
    pcm.path.unlink()
    return {
        "decode_seconds": decoded,
        "vad_seconds": time.perf_counter() - started,
        "regions": len(regions),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run_child(*args: str) -> dict[str, Any]:
    command = [sys.executable, __file__, *args]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--dense-minutes", type=float, default=0.0)
    parser.add_argument("--child", choices=["transcribe", "stages"])
    parser.add_argument("--audio", type=Path)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--keep", type=Path, help="make the recordings here and keep them")
    args = parser.parse_args()
    if args.child == "transcribe":
        print(json.dumps(_child(args.audio, args.cache)))
        return
    if args.child == "stages":
        print(json.dumps(_stages(args.audio, args.cache)))
        return

    with tempfile.TemporaryDirectory(prefix="asr-long-") as scratch_name:
        scratch = args.keep or Path(scratch_name)
        scratch.mkdir(parents=True, exist_ok=True)
        cache = scratch / "models"
        whisper_base_dir(cache)
        long_file = scratch / f"long-{args.hours:g}h.ogg"
        started = time.perf_counter()
        spots = make_long_recording(long_file, args.hours * 3600, scratch)
        made = time.perf_counter() - started
        print(f"made {long_file.name}: {long_file.stat().st_size / 1e6:.1f} MB in {made:.0f} s")
        stages = _run_child("--child", "stages", "--audio", str(long_file), "--cache", str(scratch))
        result = _run_child("--child", "transcribe", "--audio", str(long_file),
                            "--cache", str(cache))  # fmt: skip
        _report("sparse", result, stages, " ".join(text for _, text in spots), spots)
        if args.dense_minutes:
            dense = scratch / f"dense-{args.dense_minutes:g}min.ogg"
            text = make_dense_recording(dense, args.dense_minutes * 60, scratch)
            stages = _run_child("--child", "stages", "--audio", str(dense), "--cache", str(scratch))
            result = _run_child("--child", "transcribe", "--audio", str(dense),
                                "--cache", str(cache))  # fmt: skip
            _report("dense", result, stages, None, None)
            said = " ".join(s[2] for s in result["segments"])
            repeats = round(result["speech_seconds"] / _spoken_seconds(scratch))
            print(f"  dense WER against the text said {repeats} times: "
                  f"{word_error_rate(' '.join([text] * repeats), said):.2%}")  # fmt: skip


def _spoken_seconds(scratch: Path) -> float:
    import wave

    with wave.open(str(scratch / "all.wav")) as w:
        return w.getnframes() / w.getframerate()


def _report(
    name: str,
    result: dict[str, Any],
    stages: dict[str, Any],
    reference: str | None,
    spots: list[tuple[float, str]] | None,
) -> None:
    audio_s = result["audio_seconds"]
    cores = len(os.sched_getaffinity(0))
    print(
        f"{name}: {audio_s / 3600:.2f} h of audio, {result['speech_seconds']:.0f} s kept by the "
        f"VAD ({stages['regions']} regions); {cores} cores"
    )
    print(
        f"  transcribe: {result['seconds']:.1f} s wall (RTF {result['seconds'] / audio_s:.4f}), "
        f"{result['cpu_seconds']:.1f} s CPU; peak RSS {result['peak_rss_mb']:.0f} MB "
        f"(model loaded: {result['loaded_rss_mb']:.0f} MB, so "
        f"+{result['peak_rss_mb'] - result['loaded_rss_mb']:.0f} MB for the file)"
    )
    print(
        f"  alone: decoding {stages['decode_seconds']:.1f} s, VAD {stages['vad_seconds']:.1f} s "
        f"({stages['vad_seconds'] / audio_s * 3600:.1f} s per hour of audio); "
        f"peak RSS {stages['peak_rss_mb']:.0f} MB"
    )
    if reference is not None and spots is not None:
        said = " ".join(s[2] for s in result["segments"])
        print(f"  WER over the {len(spots)} sentences: {word_error_rate(reference, said):.2%}")
        for start, _end, text in result["segments"]:
            print(f"    {start:8.1f} s  {text}")
        print("  said at: " + ", ".join(f"{at:.0f} s" for at, _ in spots))


if __name__ == "__main__":
    main()
