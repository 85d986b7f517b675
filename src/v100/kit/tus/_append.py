"""One PATCH body written straight into a local-disk upload's growing file (the local fast
path): HTTP chunks gathered into a few MiB and written at their offset in a worker thread while
the next ones arrive, the offset recorded only after an ``fdatasync`` covers it (a checkpoint
every ``TusSettings.checkpoint_bytes``, at the end of the body, and when the body breaks)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from v100.kit.db import unit_of_work
from v100.kit.storage import LocalAppendFile
from v100.kit.tus import _repository as repo
from v100.kit.tus._chunk import BodyInterrupted
from v100.kit.tus._errors import ChecksumMismatch, TusUploadNotFound, UploadTooLarge
from v100.kit.tus._headers import Checksum
from v100.kit.tus._table import TusUpload, UploadStatus

if TYPE_CHECKING:
    from v100.kit.tus._uploads import TusUploads

__all__ = ["AppendWriter"]

# Bytes gathered from the body before one write (a single pwritev of the HTTP chunks as they
# came, no join), and how many such writes run while the next bytes are received.
_WRITE_SIZE = 4 * 1024 * 1024
_WRITES_IN_FLIGHT = 2


class AppendWriter:
    """One PATCH body on its way into an upload's growing file (``LocalDiskStore``)."""

    def __init__(
        self,
        uploads: TusUploads,
        upload: TusUpload,
        token: str,
        room: int,
        checksum: Checksum | None,
        file: LocalAppendFile,
    ) -> None:
        self.uploads = uploads
        self.upload = upload
        self.token = token
        self.room = room
        self.checksum = checksum
        self.hasher = checksum.hasher() if checksum else None
        self.file = file
        self.chunks: list[bytes] = []
        self.gathered = 0
        # Where the next write goes (every byte before it is written or being written), and
        # the offset the row holds (every byte before it is on disk, fdatasync'ed).
        self.end = upload.offset
        self.recorded = upload.offset
        self.writes: collections.deque[asyncio.Task[None]] = collections.deque()
        self.progress: asyncio.Task[None] | None = None
        self.renew_at = time.monotonic() + uploads.settings.lease.total_seconds() / 3

    async def receive(self, body: AsyncIterator[bytes]) -> TusUpload:
        received = 0
        try:
            async for data in body:
                received += len(data)
                if received > self.room:
                    # Nothing past the end is recorded; checkpoints already taken stay valid.
                    raise UploadTooLarge(
                        f"the body goes past the upload's end ({self.upload.offset + self.room}"
                        " bytes)"
                    )
                if self.hasher is not None:
                    self.hasher.update(data)
                self.chunks.append(data)
                self.gathered += len(data)
                if self.gathered >= _WRITE_SIZE:
                    await self._write()
                elif not self._busy() and time.monotonic() >= self.renew_at:
                    await self._save({})  # a slow body: keep the lease
        except BodyInterrupted:
            await self._write()
            await self._settle()
            if self.hasher is not None:
                # An unverifiable chunk is dropped whole: the offset stays where it was, and
                # the next writer cuts the file back to it.
                return await self._reloaded()
        except BaseException:
            with contextlib.suppress(Exception):
                await self._settle()
            raise
        else:
            await self._write()
            await self._settle()
            if self.checksum and self.hasher and self.hasher.digest() != self.checksum.digest:
                raise ChecksumMismatch(
                    f"the chunk's {self.checksum.algorithm} digest does not match"
                    " Upload-Checksum; it was not kept"
                )
        await self.file.sync()
        if self.upload.length is not None and self.end == self.upload.length:
            await self._save({"offset": self.end, "status": UploadStatus.ASSEMBLED})
            self.file.close()
            await self.uploads.assemble(await self._reloaded(), self.token)
        else:
            await self._save({"offset": self.end})
        return await self._reloaded()

    def _busy(self) -> bool:
        running = self.progress is not None and not self.progress.done()
        return running or any(not task.done() for task in self.writes)

    async def _write(self) -> None:
        if not self.chunks:
            return
        chunks, at = self.chunks, self.end
        self.chunks, self.end, self.gathered = [], self.end + self.gathered, 0
        while len(self.writes) >= _WRITES_IN_FLIGHT:
            # Dropped only once done: a checkpoint waits for every write still listed.
            await self.writes[0]
            self.writes.popleft()
        self.writes.append(asyncio.create_task(self.file.write(chunks, at)))
        if self.progress is not None:
            if not self.progress.done():
                return  # one checkpoint at a time; the next one covers more
            await self.progress  # raises what it raised (a lost lease, a failed sync)
            self.progress = None
        if self._due() or time.monotonic() >= self.renew_at:
            self.progress = asyncio.create_task(self._checkpoints())

    def _due(self) -> bool:
        """Without a checksum, a checkpoint is due every ``checkpoint_bytes`` written; with one,
        nothing counts before the digest holds, and a checkpoint only renews the lease."""
        limit = self.uploads.settings.checkpoint_bytes
        return self.hasher is None and self.end - self.recorded >= limit

    async def _checkpoints(self) -> None:
        """Record the offset of everything written so far, once it is on disk; again while more
        is due (the body may stall with bytes written and not yet recorded)."""
        while True:
            upto, writes = self.end, list(self.writes)
            for task in writes:
                await task
            if self.hasher is not None:
                await self._save({})
                return
            await self.file.sync()
            await self._save({"offset": upto})
            self.recorded = upto
            if not self._due():
                return

    async def _settle(self) -> None:
        while self.writes:
            await self.writes[0]
            self.writes.popleft()
        if self.progress is not None:
            progress, self.progress = self.progress, None
            await progress

    async def _save(self, values: dict[str, Any]) -> None:
        values = {"length": self.upload.length, **values}
        await self.uploads.save(self.upload.id, self.token, values)
        self.renew_at = time.monotonic() + self.uploads.settings.lease.total_seconds() / 3

    async def _reloaded(self) -> TusUpload:
        async with unit_of_work(self.uploads.sessions) as session:
            upload = await repo.get_upload(session, self.upload.id)
        if upload is None:
            raise TusUploadNotFound(f"upload {self.upload.id!r} was terminated")
        return upload
