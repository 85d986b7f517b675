"""The audio of a live stream, decoded as it arrives into what the speech models read: 16 kHz
mono ``linear16``. In: raw ``linear16`` at any rate with interleaved channels (mixed down), or
Opus in an Ogg or WebM container (what browsers' MediaRecorder and FFmpeg's libopus write),
demuxed and decoded by PyAV on a thread of the stream's own, fed by a pipe, so the event loop
never waits on FFmpeg and output comes page by page, not at the end. A ``MARK`` can be put in
the output after everything fed so far (a live session's ``Finalize``), and the feeder can
wait while too much decoded audio is still unread (``room``)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import AsyncIterator, Callable
from typing import Literal

import av
import numpy as np

from v100.ai.audio import SAMPLE_RATE

__all__ = ["MARK", "LiveAudioDecoder", "LiveEncoding", "Mark", "UndecodableAudio"]

LiveEncoding = Literal["linear16", "opus"]


class Mark:
    """A point in the decoded output: everything fed before it has come out before it."""


MARK = Mark()

# The containers Opus may come in, by their first bytes, and FFmpeg's demuxer for each.
_CONTAINERS = {b"OggS": "ogg", b"\x1a\x45\xdf\xa3": "matroska"}
# Open the demuxer on the first page: no probing ahead (it would hold the first words back).
_DEMUX_OPTIONS = {"probesize": "32", "analyzeduration": "0", "fflags": "nobuffer"}


class UndecodableAudio(Exception):
    """The stream's bytes are not audio of the encoding it was opened with."""


class _Pipe(io.RawIOBase):
    """Bytes fed from the event loop, read by the demuxer's thread (blocking until more come;
    end of file once the feeding ends)."""

    def __init__(self, on_idle: Callable[[], None]) -> None:
        self._buffer = bytearray()
        self._ended = False
        self._ready = threading.Condition()
        self._on_idle = on_idle  # called (on the reader's thread) when it starts waiting
        self.waiting = False  # the reader has read everything and waits for more

    def readable(self) -> bool:
        return True

    @property
    def idle(self) -> bool:
        with self._ready:
            return (self.waiting and not self._buffer) or self._ended

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
                if not self.waiting:
                    self.waiting = True
                    self._on_idle()
                self._ready.wait()
            self.waiting = False
            count = min(len(target), len(self._buffer))
            target[:count] = self._buffer[:count]
            del self._buffer[:count]
            return count


class LiveAudioDecoder:
    """``feed`` bytes as they arrive (never blocks), ``end`` when the stream ends; ``pcm()``
    yields 16 kHz mono ``linear16`` as it is decoded, ending after ``end`` (or raising
    ``UndecodableAudio``). ``abort`` drops what is still to decode. Make it on the event loop
    that reads ``pcm()``. ``room()`` waits while more than ``backlog`` bytes of output are
    unread (5 s of audio)."""

    def __init__(
        self,
        encoding: LiveEncoding,
        *,
        sample_rate: int,
        channels: int,
        backlog: int = 5 * SAMPLE_RATE * 2,
    ) -> None:
        if channels < 1 or sample_rate < 1:
            raise ValueError("channels and sample_rate must be positive")
        self.encoding = encoding
        self.sample_rate = sample_rate
        self.channels = channels
        self._loop = asyncio.get_running_loop()
        self._out: asyncio.Queue[bytes | Mark | UndecodableAudio | None] = asyncio.Queue()
        self._unread = 0  # bytes of output in ``_out``
        self._backlog = backlog
        self._room = asyncio.Event()
        self._room.set()
        self._ended = False
        # linear16: a sample split across two frames waits here for its other bytes.
        self._carry = b""
        self._resampler: av.AudioResampler | None = None
        if encoding == "linear16" and sample_rate != SAMPLE_RATE:
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        # opus: the demuxer's pipe and thread, started by the first bytes.
        self._pipe: _Pipe | None = None
        self._idle = asyncio.Event()  # set when the demuxer has read all it was fed
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
            self._put(None)
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
        self._room.set()

    async def mark(self) -> None:
        """Put ``MARK`` in the output once everything fed so far is decoded (Opus: what its
        pages complete; a page still arriving comes after)."""
        if self._pipe is not None:
            self._idle.clear()
            if not self._pipe.idle:
                await self._idle.wait()
            await asyncio.sleep(0)  # let the thread's last outputs, already scheduled, land
        self._out.put_nowait(MARK)

    async def room(self) -> None:
        """Wait while too much decoded audio is unread (the feeder then stops reading its
        socket, and the sender slows down)."""
        await self._room.wait()

    # --- output --------------------------------------------------------------------------

    async def pcm(self) -> AsyncIterator[bytes | Mark]:
        while True:
            item = await self._out.get()
            if item is None:
                return
            if isinstance(item, UndecodableAudio):
                raise item
            if isinstance(item, bytes):
                self._unread -= len(item)
                if self._unread <= self._backlog:
                    self._room.set()
            yield item

    def _put(self, item: bytes | Mark | UndecodableAudio | None) -> None:
        if isinstance(item, bytes):
            if not item:
                return
            self._unread += len(item)
            if self._unread > self._backlog:
                self._room.clear()
        self._out.put_nowait(item)

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
        self._pipe = _Pipe(on_idle=self._idle_from_thread)
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

    def _idle_from_thread(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._idle.set)

    def _from_thread(self, item: bytes | UndecodableAudio | None) -> None:
        if isinstance(item, bytes) and not item:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody reads any more
            self._loop.call_soon_threadsafe(self._put, item)


def _frames_bytes(frames: list[av.AudioFrame]) -> bytes:
    return b"".join(frame.to_ndarray().tobytes() for frame in frames)
