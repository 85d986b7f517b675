"""One PATCH body on its way into the object store: whole parts cut at fixed offsets and stored
while the rest is received, progress recorded after each part (unless a checksum must hold
first), and what remains past the last whole part kept as the pending tail."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from v100.kit.db import new_id, unit_of_work
from v100.kit.storage import UploadedPart
from v100.kit.tus import _repository as repo
from v100.kit.tus._errors import ChecksumMismatch, TusUploadNotFound, UploadTooLarge
from v100.kit.tus._headers import Checksum
from v100.kit.tus._table import TusUpload, UploadStatus, parts_json

if TYPE_CHECKING:
    from v100.kit.tus._uploads import TusUploads

__all__ = ["BodyInterrupted", "ChunkWriter"]

# Parts on their way to the store at once: overlaps the store's latency with receiving, at
# the cost of that many parts in memory per request.
_PARTS_IN_FLIGHT = 2


class BodyInterrupted(Exception):
    """The request body ended early: the client went away mid-chunk."""


class ChunkWriter:
    """One PATCH body on its way into the store."""

    def __init__(
        self,
        uploads: TusUploads,
        upload: TusUpload,
        token: str,
        room: int,
        checksum: Checksum | None,
    ) -> None:
        self.uploads = uploads
        self.store = uploads.store
        self.upload = upload
        self.token = token
        self.room = room
        self.checksum = checksum
        self.hasher = checksum.hasher() if checksum else None
        self.parts = list(upload.parts)
        self.buffer = bytearray()
        # Where buffer[0] sits in the upload, and where the stored parts end: they differ
        # while a part is on its way to the store.
        self.part_start = upload.offset - upload.pending_size
        self.stored_end = self.part_start
        self.old_pending = upload.pending_key
        self.renew_at = time.monotonic() + uploads.settings.lease.total_seconds() / 3
        # Parts are stored while the next ones are received, a few at a time; each records
        # its progress only after the one before it, so the row never has a gap.
        self.inflight: collections.deque[asyncio.Task[None]] = collections.deque()

    async def receive(self, body: AsyncIterator[bytes]) -> TusUpload:
        if self.upload.pending_key is not None:
            self.buffer += await self.store.get(self.upload.pending_key)
        received = 0
        try:
            async for data in body:
                received += len(data)
                if received > self.room:
                    # Nothing past the end is stored; whole parts already saved stay valid.
                    raise UploadTooLarge(
                        f"the body goes past the upload's end ({self.upload.offset + self.room}"
                        " bytes)"
                    )
                if self.hasher is not None:
                    self.hasher.update(data)
                self.buffer += data
                while len(self.buffer) >= self.upload.part_size:
                    await self._cut_part(self.upload.part_size)
                renewing_elsewhere = bool(self.inflight) and self.hasher is None
                if not renewing_elsewhere and time.monotonic() >= self.renew_at:
                    await self._save({})
        except BodyInterrupted:
            await self._drain()
            if self.hasher is not None:
                # An unverifiable chunk is dropped whole; the offset stays where it was.
                return await self._reloaded()
        except BaseException:
            with contextlib.suppress(Exception):
                await self._drain()  # parts already cut are valid data: let them land
            raise
        else:
            await self._drain()
            if self.checksum and self.hasher and self.hasher.digest() != self.checksum.digest:
                raise ChecksumMismatch(
                    f"the chunk's {self.checksum.algorithm} digest does not match"
                    " Upload-Checksum; it was not kept"
                )
        end = self.part_start + len(self.buffer)
        if self.upload.length is not None and end == self.upload.length:
            await self._assemble()
        else:
            await self._keep_tail()
        return await self._reloaded()

    async def _cut_part(self, size: int) -> None:
        with memoryview(self.buffer) as view:
            data = bytes(view[:size])  # one copy (a bytearray slice would be a second)
        del self.buffer[:size]
        # The part number follows from the offset: never more than ceil(length / part_size).
        number = self.part_start // self.upload.part_size + 1
        self.part_start += size
        while len(self.inflight) >= _PARTS_IN_FLIGHT:
            await self.inflight.popleft()
        previous = self.inflight[-1] if self.inflight else None
        self.inflight.append(asyncio.create_task(self._store_part(number, data, previous)))

    async def _drain(self) -> None:
        while self.inflight:
            await self.inflight.popleft()

    async def _store_part(
        self, number: int, data: bytes, previous: asyncio.Task[None] | None
    ) -> None:
        upload = self.upload
        assert upload.multipart_id is not None
        etag = await self.store.upload_part(upload.object_key, upload.multipart_id, number, data)
        if previous is not None:
            await previous
        self.parts.append(UploadedPart(part_number=number, etag=etag, size=len(data)))
        self.stored_end += len(data)
        if self.hasher is None:
            await self._save_progress(None, 0)

    async def _keep_tail(self) -> None:
        pending_key = None
        if self.buffer:
            pending_key = f"{self.uploads.settings.pending_prefix}/{self.upload.id}/{new_id()}"
            await self.store.put(pending_key, bytes(self.buffer))
        await self._save_progress(pending_key, len(self.buffer))

    async def _assemble(self) -> None:
        if self.buffer or not self.parts:
            await self._cut_part(len(self.buffer))
            await self._drain()
        await self._save_progress(None, 0, status=UploadStatus.ASSEMBLED)
        await self.uploads.assemble(await self._reloaded(), self.token)

    async def _save_progress(
        self, pending_key: str | None, pending_size: int, **extra: Any
    ) -> None:
        await self._save(
            {
                "parts": parts_json(tuple(self.parts)),
                "offset": self.stored_end + pending_size,
                "pending_key": pending_key,
                "pending_size": pending_size,
                **extra,
            }
        )
        # The tail read at the start is now inside a part or replaced by a new tail.
        if self.old_pending is not None and self.old_pending != pending_key:
            old, self.old_pending = self.old_pending, None
            with contextlib.suppress(Exception):  # an orphan tail is only wasted space
                await self.store.delete(old)

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
