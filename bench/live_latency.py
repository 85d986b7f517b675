"""Live transcription latency (issue 14's figure): espeak-ng speech from known sentences, with
pauses between them, streamed at real-time pace in 100 ms chunks, and the delay from the end of
each utterance (its last loud sample, known from the audio) to its final result. Measured two
ways in one run: into the transcription service's WebSocket (the product: the app served on
loopback, SQLite, billing off, the local backend), and into the streaming engine
(``v100.ai.asr.LocalLiveSession``) called directly, so the service's own share shows as a
ratio. Prints per utterance, then the median and p90, the interim result rate and the WER of the
finals. Run by hand, not in CI:

    .venv/bin/python bench/live_latency.py [--utterances 8] [--endpointing 300] [--pace 1.0]

The delay includes the endpointing pause itself (the engine must hear ``endpointing`` ms of
silence before it may call the utterance over) and one Whisper decoding of the utterance on
this machine's cores. Needs espeak-ng (Debian package)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from v100.ai.asr import (
    FINAL_OPTIONS,
    LiveResult,
    LocalLiveSession,
    LocalWhisper,
    StreamingOptions,
)
from v100.ai.audio import SAMPLE_RATE
from v100.ai.testing import Utterance, make_utterances, word_error_rate
from v100.kit.auth import Principal
from v100.kit.settings import PlatformSettings
from v100.kit.testing.http import auth_headers
from v100.kit.testing.servers import serving
from v100.services.transcription.app import create_app
from v100.services.transcription.settings import TranscriptionSettings

SENTENCES = [
    "Good morning everyone, thank you for joining the call.",
    "Today we review the release schedule.",
    "The new version ships on Monday.",
    "Please send your questions to the project channel.",
    "The support team closed many tickets last week.",
    "We will move the nightly jobs to a cheaper machine.",
    "The office is closed on Friday.",
    "See you all next week.",
    "The budget is a little higher than we planned.",
    "Thank you, and have a good day.",
]
CHUNK = SAMPLE_RATE // 10


@dataclass
class Run:
    """One stream: when each chunk left, and every result with its arrival time."""

    sent_at: list[tuple[float, float]] = field(default_factory=list)  # (audio end s, wall)
    results: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    started: float = 0.0

    def sent(self, audio_time: float) -> float:
        """The wall time the chunk holding ``audio_time`` was sent."""
        for end, wall in self.sent_at:
            if end >= audio_time:
                return wall
        return self.sent_at[-1][1]


def _as_message(result: LiveResult) -> dict[str, Any]:
    return {
        "is_final": result.is_final,
        "speech_final": result.speech_final,
        "transcript": result.transcript,
        "words": [{"start": w.start, "end": w.end} for w in result.words],
    }


async def _paced(pcm: np.ndarray, pace: float, send: Any, run: Run) -> None:
    run.started = time.monotonic()
    for start in range(0, pcm.size, CHUNK):
        chunk = pcm[start : start + CHUNK]
        due = run.started + (start + chunk.size) / SAMPLE_RATE / pace
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await send(chunk)
        run.sent_at.append(((start + chunk.size) / SAMPLE_RATE, time.monotonic()))


async def engine_run(
    pcm: np.ndarray, spoken: list[Utterance], args: argparse.Namespace, cache: Path
) -> tuple[Run, float]:
    """The stream into the engine, then what one final decode of each utterance costs now
    (its median: the part of the delay that is Whisper's)."""
    whisper = LocalWhisper(cache_dir=cache)
    await whisper.load_async()
    options = StreamingOptions(language="en", endpointing_ms=args.endpointing)
    run = Run()
    async with LocalLiveSession(whisper, options) as session:

        async def read() -> None:
            async for event in session.events():
                if isinstance(event, LiveResult):
                    run.results.append((time.monotonic(), _as_message(event)))

        reader = asyncio.create_task(read())
        await _paced(pcm, args.pace, session.send_audio, run)
    await reader
    decodes = []
    for utterance in spoken:
        snippet = pcm[round((utterance.start - 0.3) * SAMPLE_RATE) : round(
            (utterance.end + args.endpointing / 1000) * SAMPLE_RATE
        )]  # fmt: skip
        started = time.monotonic()
        await whisper.decode_async(snippet, "en", **FINAL_OPTIONS)
        decodes.append(time.monotonic() - started)
    whisper.close()
    return run, statistics.median(decodes)


def _linear16(pcm: np.ndarray) -> bytes:
    return (np.clip(pcm, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


async def service_run(
    pcm: np.ndarray, spoken: list[Utterance], args: argparse.Namespace, scratch: Path
) -> Run:
    platform = PlatformSettings(
        var_dir=scratch / "var",
        internal_token_secret=secrets.token_hex(32),
        database_url=f"sqlite+aiosqlite:///{scratch}/{{service}}.db",
        storage_url=f"file://{scratch}/objects",
    )
    settings = TranscriptionSettings(
        platform=platform, billing_enabled=False, model_dir=scratch / "models"
    )
    app = create_app(settings)
    run = Run()
    async with serving(app, ready=True) as url, httpx.AsyncClient(base_url=url) as http:
        principal = Principal(tenant_id=str(uuid.uuid4()), user_id="bench", scopes=frozenset({"*"}))
        headers = auth_headers(app, principal)
        body = {"language": "en", "endpointing": args.endpointing}
        # A first session loads the model, so the measured one finds it loaded.
        for measured in (False, True):
            created = await http.post(
                "/v1/transcription-sessions", json=body,
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            )  # fmt: skip
            created.raise_for_status()
            ws_url = url.replace("http://", "ws://") + created.json()["stream_path"]
            async with websockets.connect(
                ws_url, additional_headers=headers, proxy=None, max_size=None
            ) as socket:
                if not measured:  # the first sentence, at once; its final comes before close
                    await socket.send(_linear16(pcm[: round(spoken[0].end * SAMPLE_RATE)]))
                    await socket.send(json.dumps({"type": "CloseStream"}))
                    async for _ in socket:
                        pass
                    continue

                async def read(socket: websockets.ClientConnection = socket) -> None:
                    async for raw in socket:
                        message = json.loads(raw)
                        if message["type"] == "Results":
                            alternative = message["channel"]["alternatives"][0]
                            run.results.append((time.monotonic(), {
                                "is_final": message["is_final"],
                                "speech_final": message["speech_final"],
                                "transcript": alternative["transcript"],
                                "words": alternative["words"],
                            }))  # fmt: skip

                async def send(chunk: np.ndarray, socket: Any = socket) -> None:
                    await socket.send(_linear16(chunk))

                reader = asyncio.create_task(read())
                await _paced(pcm, args.pace, send, run)
                await socket.send(json.dumps({"type": "CloseStream"}))
                await reader
    return run


@dataclass
class Figures:
    latencies: list[float]
    interims_before_final: list[int]
    wer: float
    interim_rate: float  # interim results per second of speech
    per_utterance: list[tuple[str, float | None, int, str]]


def figures(run: Run, spoken: list[Utterance]) -> Figures:
    finals = [(at, r) for at, r in run.results if r["is_final"] and r["words"]]
    interims = [(at, r) for at, r in run.results if not r["is_final"]]
    latencies, counts, rows = [], [], []
    heard_text = []
    for utterance in spoken:
        # The final results whose words end inside this utterance's sound.
        low, high = utterance.start - 0.3, utterance.end + 0.5
        own = [(at, r) for at, r in finals if low <= r["words"][-1]["end"] <= high]
        text = " ".join(r["transcript"] for _, r in own)
        heard_text.append(text)
        if not own:
            rows.append((utterance.text, None, 0, ""))
            continue
        arrived = max(at for at, _ in own)
        latency = arrived - run.sent(utterance.end)
        before = [
            at for at, r in interims
            if r["words"] and low <= r["words"][0]["start"] <= utterance.end and at <= arrived
        ]  # fmt: skip
        latencies.append(latency)
        counts.append(len(before))
        rows.append((utterance.text, latency, len(before), text))
    speech_seconds = sum(u.end - u.start for u in spoken)
    return Figures(
        latencies=latencies,
        interims_before_final=counts,
        wer=word_error_rate(" ".join(u.text for u in spoken), " ".join(heard_text)),
        interim_rate=len(interims) / speech_seconds,
        per_utterance=rows,
    )


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(np.ceil(q * len(ordered))) - 1))]


def report(name: str, found: Figures, spoken: list[Utterance], endpointing: int) -> float:
    print(f"\n{name}")
    for text, latency, interims, heard in found.per_utterance:
        shown = f"{latency * 1000:6.0f} ms" if latency is not None else "  no final"
        print(f"  {shown}  interims {interims}  {text!r} -> {heard!r}")
    lat = found.latencies
    median = statistics.median(lat) if lat else float("nan")
    print(
        f"  end of utterance -> final result: median {median * 1000:.0f} ms, p90 "
        f"{_quantile(lat, 0.9) * 1000:.0f} ms over {len(lat)} of {len(spoken)} utterances; "
        f"minus the {endpointing} ms endpointing pause: median {median * 1000 - endpointing:.0f} ms"
    )
    with_interim = sum(1 for count in found.interims_before_final if count)
    print(
        f"  interim results: {found.interim_rate:.2f} per second of speech; utterances with one "
        f"before their final: {with_interim}/{len(lat)}; WER of the finals {found.wer:.1%}"
    )
    return median


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--utterances", type=int, default=8)
    parser.add_argument("--endpointing", type=int, default=300)
    parser.add_argument("--pace", type=float, default=1.0, help="times real time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="live-bench-") as name:
        scratch = Path(name)
        texts = (SENTENCES * 2)[: args.utterances]
        pcm, spoken = make_utterances(scratch / "speech", texts, pause=1.5)
        load_before = os.getloadavg()[0]
        service = figures(await service_run(pcm, spoken, args, scratch), spoken)
        engine_stream, decode = await engine_run(pcm, spoken, args, scratch / "models")
        engine = figures(engine_stream, spoken)
        load_after = os.getloadavg()[0]
    cores = len(os.sched_getaffinity(0))
    print(
        f"{pcm.size / SAMPLE_RATE:.1f} s of espeak-ng en-us, {len(spoken)} utterances with "
        f"1.5 s pauses, streamed at {args.pace:g}x real time in 100 ms chunks; endpointing "
        f"{args.endpointing} ms; Whisper base int8 on {cores} cores; load average "
        f"{load_before:.1f} before, {load_after:.1f} after"
    )
    through = report("through the service's WebSocket", service, spoken, args.endpointing)
    direct = report("the streaming engine called directly", engine, spoken, args.endpointing)
    floor = args.endpointing / 1000 + decode
    print(
        f"\none final decode of an utterance, alone, now: median {decode * 1000:.0f} ms; "
        f"endpointing + that decode: {floor * 1000:.0f} ms"
    )
    print(
        f"median latency, service / engine: {through / direct:.2f}; service / (endpointing + "
        f"one decode): {through / floor:.2f}; engine / (endpointing + one decode): "
        f"{direct / floor:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
