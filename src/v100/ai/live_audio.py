"""The audio of a live stream, decoded as it arrives into what the speech models read: 16 kHz
mono ``linear16``. In: raw ``linear16`` at any rate with interleaved channels (mixed down), or
Opus in an Ogg or WebM container (what browsers' MediaRecorder and FFmpeg's libopus write),
demuxed and decoded by PyAV on a thread of the stream's own, fed by a pipe, so the event loop
never waits on FFmpeg and output comes page by page, not at the end."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import AsyncIterator
from typing import Literal

import av
import numpy as np

from v100.ai.audio import SAMPLE_RATE

__all__ = ["LiveAudioDecoder", "LiveEncoding", "UndecodableAudio"]

LiveEncoding = Literal["linear16", "opus"]

# The containers Opus may come in, by their first bytes, and FFmpeg's demuxer for each.
_CONTAINERS = {b"OggS": "ogg", b"\x1a\x45\xdf\xa3": "matroska"}
# Open the demuxer on the first page: no probing ahead (it would hold the first words back).
_DEMUX_OPTIONS = {"probesize": "32", "analyzeduration": "0", "fflags": "nobuffer"}


class UndecodableAudio(Exception):
    """The stream's bytes are not audio of the encoding it was opened with."""


class _Pipe(io.RawIOBase):
    """Bytes fed from the event loop, read by the demuxer's thread (blocking until more come;
    end of file once the feeding ends)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._ended = False
        self._ready = threading.Condition()

    def readable(self) -> bool:
        return True

    def feed(self, data: bytes) -> None:
        with self._ready:
            if self._ended:
                return  # the demuxer has stopped: nothing reads these
            self._buffer += data
            self._ready.notify()

    def end(self) -> None:
        with self._ready:
            self._ended = True
            self._ready.notify()

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        with self._ready:
            while not self._buffer and not self._ended:
                self._ready.wait()
            count = min(len(target), len(self._buffer))
            target[:count] = self._buffer[:count]
            del self._buffer[:count]
            return count


class LiveAudioDecoder:
    """``feed`` bytes as they arrive (never blocks), ``end`` when the stream ends; ``pcm()``
    yields 16 kHz mono ``linear16`` as it is decoded, ending after ``end`` (or raising
    ``UndecodableAudio``). ``abort`` drops what is still to decode. Make it on the event loop
    that reads ``pcm()``."""

    def __init__(self, encoding: LiveEncoding, *, sample_rate: int, channels: int) -> None:
        if channels < 1 or sample_rate < 1:
            raise ValueError("channels and sample_rate must be positive")
        self.encoding = encoding
        self.sample_rate = sample_rate
        self.channels = channels
        self._loop = asyncio.get_running_loop()
        self._out: asyncio.Queue[bytes | UndecodableAudio | None] = asyncio.Queue()
        self._ended = False
        # linear16: a sample split across two frames waits here for its other bytes.
        self._carry = b""
        self._resampler: av.AudioResampler | None = None
        if encoding == "linear16" and sample_rate != SAMPLE_RATE:
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        # opus: the demuxer's pipe and thread, started by the first bytes.
        self._pipe: _Pipe | None = None
        self._head = b""
        self._thread: threading.Thread | None = None

    # --- input ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self._ended or not data:
            return
        if self.encoding == "linear16":
            self._linear16(data)
        else:
            self._opus(data)

    def end(self) -> None:
        """No more bytes: what is left is decoded, then ``pcm()`` ends."""
        if self._ended:
            return
        self._ended = True
        if self.encoding == "linear16":
            if self._resampler is not None:
                self._put(_frames_bytes(self._resampler.resample(None)))
            self._out.put_nowait(None)
        elif self._pipe is not None:
            self._pipe.end()  # the thread decodes the rest, then says the end
        elif self._head:
            self._out.put_nowait(UndecodableAudio("the stream ended before its container began"))
        else:
            self._out.put_nowait(None)

    def abort(self) -> None:
        """Stop: nothing more is decoded and ``pcm()`` ends now."""
        self._ended = True
        if self._pipe is not None:
            self._pipe.end()
        self._out.put_nowait(None)

    # --- output --------------------------------------------------------------------------

    async def pcm(self) -> AsyncIterator[bytes]:
        while True:
            item = await self._out.get()
            if item is None:
                return
            if isinstance(item, UndecodableAudio):
                raise item
            yield item

    def _put(self, data: bytes) -> None:
        if data:
            self._out.put_nowait(data)

    # --- linear16 --------------------------------------------------------------------------

    def _linear16(self, data: bytes) -> None:
        data = self._carry + data
        frame_bytes = 2 * self.channels
        usable = len(data) - len(data) % frame_bytes
        self._carry = data[usable:]
        if not usable:
            return
        samples = np.frombuffer(data[:usable], dtype="<i2")
        if self.channels > 1:
            mixed = samples.reshape(-1, self.channels).astype(np.int32).mean(axis=1)
            samples = np.round(mixed).astype("<i2")
        if self._resampler is None:
            self._put(samples.tobytes())
            return
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        self._put(_frames_bytes(self._resampler.resample(frame)))

    # --- opus ----------------------------------------------------------------------------

    def _opus(self, data: bytes) -> None:
        if self._pipe is not None:
            self._pipe.feed(data)
            return
        self._head += data
        if len(self._head) < 4:
            return
        container = _CONTAINERS.get(self._head[:4])
        if container is None:
            self._ended = True
            self._out.put_nowait(UndecodableAudio(
                "Opus audio comes in an Ogg or WebM container: these bytes are neither"
            ))  # fmt: skip
            return
        self._pipe = _Pipe()
        self._pipe.feed(self._head)
        self._head = b""
        self._thread = threading.Thread(
            target=self._demux, args=(self._pipe, container), name="live-opus", daemon=True
        )
        self._thread.start()

    def _demux(self, pipe: _Pipe, container: str) -> None:
        """On the stream's thread: demux and decode until the pipe ends."""
        outcome: UndecodableAudio | None = None
        try:
            with av.open(pipe, mode="r", format=container, options=_DEMUX_OPTIONS) as source:
                if not source.streams.audio:
                    raise UndecodableAudio("the container holds no audio stream")
                stream = source.streams.audio[0]
                if stream.codec_context.name != "opus":
                    raise UndecodableAudio(f"the audio is {stream.codec_context.name}, not Opus")
                resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
                for packet in source.demux(stream):
                    for frame in packet.decode():
                        self._from_thread(_frames_bytes(resampler.resample(frame)))
                self._from_thread(_frames_bytes(resampler.resample(None)))
        except UndecodableAudio as exc:
            outcome = exc
        except (av.FFmpegError, ValueError) as exc:
            outcome = UndecodableAudio(f"the Opus stream cannot be decoded ({exc})")
        finally:
            pipe.end()  # a failure stops feeding too
            self._from_thread(outcome)

    def _from_thread(self, item: bytes | UndecodableAudio | None) -> None:
        if isinstance(item, bytes) and not item:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody reads any more
            self._loop.call_soon_threadsafe(self._out.put_nowait, item)


def _frames_bytes(frames: list[av.AudioFrame]) -> bytes:
    return b"".join(frame.to_ndarray().tobytes() for frame in frames)
