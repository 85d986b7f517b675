"""Bad input ends every transcript in a clear result or a documented error, never stuck, never
charged: music gives no invented text, damaged and truncated files fail ``source-unreadable``
(or give what they hold), files with no audio we read fail ``source-unsupported``, a file
longer than ``max_audio_seconds`` fails ``source-too-long`` before any credit is held (refused
on what its container says, or, when that lies, by counting while decoding), and a URL that
points or redirects at a loopback or metadata address fails ``url-not-allowed``. All made at
test time by FFmpeg's lavfi sources and espeak-ng."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from v100.contracts.events import TRANSCRIPT_COMPLETED, TRANSCRIPT_FAILED
from v100.kit.testing.servers import serving
from v100.media._ffmpeg import ffmpeg_path
from v100.media.testing import make_video

from .support import TranscriptionApp, new_tenant

pytestmark = pytest.mark.slow  # the model loads once per app

# Four chords (C, Am, F, G; two seconds each) of three sine notes, on a beat every half second
# with a low thump: music with no voice in it.
_CHORD = "0.12*(sin(2*PI*{0}*t)+sin(2*PI*{1}*t)+sin(2*PI*{2}*t))*(0.6+0.4*exp(-8*mod(t,0.5)))"
_CHORDS = [(261.63, 329.63, 392.0), (220.0, 261.63, 329.63), (174.61, 220.0, 261.63),
           (196.0, 246.94, 293.66)]  # fmt: skip
MUSIC = (
    "+".join(
        f"{_CHORD.format(*notes)}*gte(mod(t,8),{2 * i})*lt(mod(t,8),{2 * i + 2})"
        for i, notes in enumerate(_CHORDS)
    )
    + "+0.3*sin(2*PI*55*t)*exp(-20*mod(t,0.5))"
)

# A melody sung by no one: a note every quarter second from five, with vibrato and two
# harmonics, close enough to a voice that silero lets about 0.8 s of it through.
_NOTE = "(220+110*mod(floor(t*4),5))"
MELODY = (
    f"0.2*(sin(2*PI*{_NOTE}*(1+0.01*sin(2*PI*5*t))*t)+0.5*sin(4*PI*{_NOTE}*t)"
    f"+0.25*sin(6*PI*{_NOTE}*t))"
)

# 127.0.0.1 as written by someone getting round a filter.
LOOPBACK = ("http://127.0.0.1/a.wav", "http://localhost/a.wav", "http://[::1]/a.wav",
            "http://2130706433/a.wav", "http://127.1/a.wav", "http://0.0.0.0/a.wav")  # fmt: skip


def ffmpeg(*args: str) -> None:
    command = [ffmpeg_path(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args]
    subprocess.run(command, check=True, capture_output=True)


def encoded(speech: bytes, directory: Path, suffix: str) -> bytes:
    """The espeak-ng speech in another container (by ``suffix``)."""
    source, out = directory / "speech.wav", directory / f"speech{suffix}"
    source.write_bytes(speech)
    ffmpeg("-i", str(source), "-ar", "16000", str(out))
    return out.read_bytes()


def damaged(data: bytes, size: int = 2000) -> bytes:
    """``size`` bytes in the middle overwritten with noise (the same noise every run)."""
    middle = len(data) // 2
    noise = np.random.default_rng(14).bytes(size)
    return data[:middle] + noise + data[middle + size :]


async def failed_cleanly(
    ts: TranscriptionApp, tenant: str, done: dict[str, Any], problem: str, available: int
) -> None:
    """Failed with ``problem``, said once on the stream, nothing charged or held, and none of
    the tenant's transcripts left queued or processing."""
    assert done["status"] == "failed", done
    assert done["error"]["type"] == f"/problems/{problem}", done["error"]
    assert done["error"]["detail"]
    assert done["credits_charged"] is None
    assert done["document"] is None
    events = await ts.events(done["id"])
    assert [(e.type, e.data["error"]["type"]) for e in events] == [(TRANSCRIPT_FAILED, problem)]
    await settled_and_paid(ts, tenant, available)


async def settled_and_paid(ts: TranscriptionApp, tenant: str, available: int) -> None:
    assert await ts.balance(tenant) == (available, 0)
    for status in ("queued", "processing"):
        listed = await ts.http.get(
            "/v1/transcripts", params={"status": status}, headers=ts.headers(tenant)
        )
        assert listed.json()["items"] == [], (status, listed.text)


async def test_music_completes_with_no_text(ts: TranscriptionApp, tmp_path: Path) -> None:
    """Silero gives the chords at most about 0.36 (speech starts at 0.5): no region, so the
    model is never called and cannot invent lyrics. The melody gets a region of about 0.8 s
    past the VAD; Whisper hears no speech in it (its no-speech filter) and writes nothing.
    Each minute is charged, as for silence."""
    chords, melody = tmp_path / "chords.ogg", tmp_path / "melody.m4a"
    ffmpeg("-f", "lavfi", "-i", f"aevalsrc='{MUSIC}':s=44100:d=24", "-c:a", "libopus",
           "-b:a", "64k", str(chords))  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", f"aevalsrc='{MELODY}':s=44100:d=20", str(melody))
    tenant = new_tenant()
    available, _ = await ts.balance(tenant)
    for path, seconds, let_through in ((chords, 24.0, (0.0, 0.0)), (melody, 20.0, (0.3, 2.0))):
        done = await ts.transcribe(tenant, path.read_bytes(), name=path.name)
        assert done["status"] == "completed", done
        assert done["text"] == "", (path.name, done["text"])
        assert done["document"]["segments"] == []
        assert let_through[0] <= done["speech_duration"] <= let_through[1], done
        assert done["language"] is None
        assert done["duration"] == pytest.approx(seconds, abs=0.1)
        assert done["credits_charged"] == 1
        assert [e.type for e in await ts.events(done["id"])] == [TRANSCRIPT_COMPLETED]
    await settled_and_paid(ts, tenant, available - 2)


async def test_damaged_and_truncated_files(
    ts: TranscriptionApp, speech: bytes, tmp_path: Path
) -> None:
    """AAC damaged mid-stream and FLAC cut in half fail ``source-unreadable`` (FFmpeg runs with
    ``-xerror``: no silent gap); an MP3 cut in half is what it holds (MP3 has no index to
    contradict it): the first half, transcribed."""
    tenant = new_tenant()
    available, _ = await ts.balance(tenant)
    m4a = encoded(speech, tmp_path, ".m4a")
    flac = encoded(speech, tmp_path, ".flac")
    for data in (damaged(m4a), flac[: len(flac) // 2]):
        done = await ts.transcribe(tenant, data)
        await failed_cleanly(ts, tenant, done, "source-unreadable", available)

    mp3 = encoded(speech, tmp_path, ".mp3")
    half = await ts.transcribe(tenant, mp3[: len(mp3) // 2], name="half.mp3")
    assert half["status"] == "completed", half
    whole_seconds = len(speech) / (22_050 * 2)  # espeak-ng's 16-bit mono WAV
    assert half["duration"] == pytest.approx(whole_seconds / 2, abs=0.5)
    assert half["text"].lower().startswith("the quick brown fox"), half["text"]
    await settled_and_paid(ts, tenant, available - 1)


async def test_files_without_audio_we_read(ts: TranscriptionApp, tmp_path: Path) -> None:
    """A video with no audio stream, a text file and random bytes: ``source-unsupported``."""
    tenant = new_tenant()
    available, _ = await ts.balance(tenant)
    video = make_video(tmp_path / "mute.mp4", seconds=2, audio=False).read_bytes()
    text = b"WEBVTT\n\n00:00.000 --> 00:01.000\nnot audio at all\n" * 50
    noise = np.random.default_rng(3).bytes(64 * 1024)
    for data, content_type in ((video, "video/mp4"), (text, "text/vtt"), (noise, "audio/wav")):
        done = await ts.transcribe(tenant, data, content_type=content_type)
        await failed_cleanly(ts, tenant, done, "source-unsupported", available)


async def test_too_long_fails_before_credits_are_held(ts: TranscriptionApp, tmp_path: Path) -> None:
    """With ``max_audio_seconds`` at 60: ten minutes of Opus say so in their container and are
    refused before decoding; an MP3 whose header understates its length (VBR without a Xing
    header: loud noise first, at a high bit rate, then silence; 33 s estimated for 120 s) is
    caught while decoding, which stops a second past the limit."""
    long = tmp_path / "ten-minutes.ogg"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono:d=600", "-c:a", "libopus",
           "-b:a", "8k", str(long))  # fmt: skip
    vbr = tmp_path / "understated.mp3"
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=d=5:a=0.5:r=44100", "-f", "lavfi",
           "-i", "anullsrc=r=44100:cl=mono:d=115", "-filter_complex",
           "[0][1]concat=n=2:v=0:a=1", "-ac", "1", "-c:a", "libmp3lame", "-q:a", "0",
           "-write_xing", "0", str(vbr))  # fmt: skip
    async with ts.changed(max_audio_seconds=60.0) as short:
        tenant = new_tenant()
        available, _ = await short.balance(tenant)
        stated = await short.transcribe(tenant, long.read_bytes(), name="ten-minutes.ogg")
        await failed_cleanly(short, tenant, stated, "source-too-long", available)
        assert "lasts 600 s" in stated["error"]["detail"], stated["error"]
        counted = await short.transcribe(tenant, vbr.read_bytes(), name="understated.mp3")
        await failed_cleanly(short, tenant, counted, "source-too-long", available)
        assert "goes on longer" in counted["error"]["detail"], counted["error"]
        assert "at most 60 s" in counted["error"]["detail"]


@asynccontextmanager
async def redirector(host: str, locations: dict[str, str]) -> AsyncIterator[str]:
    """A bare HTTP server on ``host`` answering ``GET <path>`` with a 302 to
    ``locations[path]`` (``serving`` binds 127.0.0.1 only, and this must not be there)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ", 2)[1].decode()
        head = f"HTTP/1.1 302 Found\r\nLocation: {locations.get(path, '/')}\r\n"
        writer.write(f"{head}Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
        with suppress(ConnectionError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, host, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_urls_at_loopback_or_redirected_there(ts: TranscriptionApp, speech: bytes) -> None:
    """Loopback in any spelling is refused at the POST (400 ``url-not-allowed``, no transcript
    made). A URL on an allowed network (127.0.0.2 here, as a self-hoster's media server) that
    redirects to 127.0.0.1, where the speech really is, or to the cloud metadata address:
    the job checks every redirect and the transcript fails ``url-not-allowed``."""
    tenant = new_tenant()
    available, _ = await ts.balance(tenant)
    for url in LOOPBACK:
        refused = await ts.from_url(tenant, {"source": {"url": url}})
        assert refused.status_code == 400, (url, refused.text)
        assert refused.json()["type"].endswith("/url-not-allowed"), refused.text
    listed = await ts.http.get("/v1/transcripts", headers=ts.headers(tenant))
    assert listed.json()["items"] == []

    async def talk(request: Request) -> Response:
        return Response(speech, media_type="audio/wav")

    async with (
        serving(Starlette(routes=[Route("/talk.wav", talk)])) as loopback,
        redirector(
            "127.0.0.2",
            {
                "/to-loopback": f"{loopback}/talk.wav",
                "/to-metadata": "http://169.254.169.254/latest/meta-data/",
            },
        ) as origin,  # fmt: skip
        ts.changed(url_allow_cidrs=["127.0.0.2/32"]) as allowed,
    ):
        for path in ("/to-loopback", "/to-metadata"):
            created = await allowed.from_url(tenant, {"source": {"url": f"{origin}{path}"}})
            assert created.status_code == 202, created.text
            done = await allowed.wait(tenant, created.json()["id"])
            await failed_cleanly(allowed, tenant, done, "url-not-allowed", available)
