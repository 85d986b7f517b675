"""The tus domain, with no HTTP in it: creating an upload, streaming a chunk into object-store
parts (every part but the last exactly ``part_size``; the bytes past the last whole part kept
as a pending object), joining the parts, handing the result to the host, terminating, and the
expiry sweep, and ending an appended stream at the bytes stored when its writer is gone. The
row in ``kit_tus_uploads`` is the only truth about which parts count."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import new_id, unit_of_work, utcnow
from v100.kit.observability import get_logger
from v100.kit.storage import (
    AppendLocked,
    LocalDiskStore,
    ObjectStore,
    UploadedPart,
    UploadNotFound,
)
from v100.kit.tus import _repository as repo
from v100.kit.tus._append import AppendWriter
from v100.kit.tus._chunk import BodyInterrupted, ChunkWriter
from v100.kit.tus._errors import (
    InvalidTusRequest,
    OffsetMismatch,
    TusUploadNotFound,
    UploadCompleted,
    UploadGone,
    UploadLocked,
    UploadTooLarge,
)
from v100.kit.tus._headers import Checksum
from v100.kit.tus._settings import TusSettings
from v100.kit.tus._table import TusUpload, UploadStatus, parts_json

__all__ = [
    "BodyInterrupted",
    "NewUpload",
    "OnComplete",
    "PreCreate",
    "SweepResult",
    "TusUploads",
    "UploadOwner",
]

_log = get_logger("v100.tus")

# How often a HEAD that waits for a writing request looks again.
WRITER_POLL_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class UploadOwner:
    """Who an upload belongs to, as the host's ``authorize`` hook says; only the same tenant
    sees it again (another tenant's upload is not found)."""

    tenant_id: str | None
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class NewUpload:
    """What ``pre_create`` judges: raise a ProblemError to refuse the upload."""

    owner: UploadOwner
    length: int | None
    metadata: dict[str, str | None]


PreCreate = Callable[[NewUpload], Awaitable[None]]
# Runs in the transaction that marks the upload completed: whatever the host writes (its own
# resource, a job enqueued with kit.jobs) commits with it, or neither does and it runs again.
OnComplete = Callable[[AsyncSession, TusUpload], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SweepResult:
    removed: int = 0  # unfinished uploads past their expiry: parts, tail and record dropped
    forgotten: int = 0  # finished uploads' records past retention (their objects stay)
    finished: int = 0  # assembled uploads whose on_complete succeeded on this retry
    failed: int = 0  # assembled uploads whose on_complete failed again (or could not end)
    ended: int = 0  # unfinished uploads past their expiry ended at their offset instead


class TusUploads:
    """The uploads of one service, over its database and object store."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: ObjectStore,
        settings: TusSettings,
        *,
        pre_create: PreCreate | None = None,
        on_complete: OnComplete | None = None,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.settings = settings
        self.pre_create = pre_create
        self.on_complete = on_complete

    # -- reads ------------------------------------------------------------------------------
    async def get(self, upload_id: str, owner: UploadOwner) -> TusUpload:
        """The caller's upload; 404 for an unknown id or another tenant's, 410 once expired."""
        async with unit_of_work(self.sessions) as session:
            upload = await repo.get_upload(session, upload_id)
        if upload is None or upload.tenant_id != owner.tenant_id:
            raise TusUploadNotFound(f"no upload {upload_id!r}")
        if upload.status is UploadStatus.RECEIVING and upload.expires_at <= utcnow():
            raise UploadGone(f"upload {upload_id!r} expired at {upload.expires_at.isoformat()}")
        return upload

    async def current(self, upload_id: str, owner: UploadOwner) -> TusUpload:
        """As ``get`` once no request is writing (waiting ``head_waits_for_writer`` at most),
        finishing first an upload left assembled by a failed ``on_complete``."""
        upload = await self.get(upload_id, owner)
        give_up = time.monotonic() + self.settings.head_waits_for_writer.total_seconds()
        while _being_written(upload) and time.monotonic() < give_up:
            await asyncio.sleep(WRITER_POLL_SECONDS)
            upload = await self.get(upload_id, owner)
        if upload.status is UploadStatus.ASSEMBLED:
            try:
                await self._retry_finish(upload)
            except Exception as exc:  # reported by the sweep too; HEAD still answers
                _log.warning("tus upload not finished", upload_id=upload.id, error=repr(exc))
            upload = await self.get(upload_id, owner)
        return upload

    # -- creation ---------------------------------------------------------------------------
    async def create(
        self,
        owner: UploadOwner,
        *,
        length: int | None,
        metadata: dict[str, str | None],
        content_type: str | None = None,
    ) -> TusUpload:
        if length is not None and length > self.settings.max_size:
            raise UploadTooLarge(
                f"Upload-Length {length} is over the {self.settings.max_size}-byte limit",
                headers={"Tus-Max-Size": str(self.settings.max_size)},
            )
        if self.pre_create is not None:
            await self.pre_create(NewUpload(owner, length, dict(metadata)))
        upload_id = new_id()
        key = f"{self.settings.key_prefix}/{upload_id}"
        multipart_id = None
        if length == 0:
            await self.store.put(key, b"", content_type)
        else:
            multipart_id = await self.store.create_multipart(key, content_type)
        now = utcnow()
        values: dict[str, Any] = {
            "id": upload_id,
            "tenant_id": owner.tenant_id,
            "user_id": owner.user_id,
            "object_key": key,
            "length": length,
            "offset": 0,
            "upload_metadata": metadata,
            "content_type": content_type,
            "part_size": self.settings.part_size(length),
            "multipart_id": multipart_id,
            "parts": [],
            "pending_key": None,
            "pending_size": 0,
            "status": UploadStatus.ASSEMBLED if length == 0 else UploadStatus.RECEIVING,
            "expires_at": now + self.settings.expires_in,
            "created_at": now,
            "updated_at": now,
        }
        async with unit_of_work(self.sessions) as session:
            await repo.insert_upload(session, values)
        if length == 0:
            await self._retry_finish(await self.get(upload_id, owner))
        return await self.get(upload_id, owner)

    # -- writing ----------------------------------------------------------------------------
    async def write(
        self,
        upload_id: str,
        owner: UploadOwner,
        *,
        offset: int,
        body: AsyncIterator[bytes],
        checksum: Checksum | None = None,
        new_length: int | None = None,
        content_length: int | None = None,
    ) -> TusUpload:
        """Append one PATCH body at ``offset``. Without a checksum every whole part is durable
        as soon as it is stored, and on a broken connection the received tail is kept too;
        with one, nothing of the chunk counts until its digest matches."""
        upload = await self.get(upload_id, owner)
        if upload.finished:
            raise UploadCompleted(f"upload {upload_id!r} is complete")
        async with self._lease(upload.id) as token:
            upload = await self.get(upload_id, owner)  # as it is now that we hold it
            if upload.finished:
                raise UploadCompleted(f"upload {upload_id!r} is complete")
            if offset != upload.offset:
                raise OffsetMismatch(
                    f"Upload-Offset is {offset}, the upload is at {upload.offset}",
                    extra={"offset": upload.offset},
                    headers={"Upload-Offset": str(upload.offset)},
                )
            length = self._new_length(upload, new_length)
            room = (self.settings.max_size if length is None else length) - offset
            if content_length is not None and content_length > room:
                raise UploadTooLarge(
                    f"{content_length} bytes at offset {offset} go past the upload's end"
                    f" ({offset + room} bytes)"
                )
            upload = replace(upload, length=length)
            store = self._append_store(upload)
            if store is None:
                return await ChunkWriter(self, upload, token, room, checksum).receive(body)
            assert upload.multipart_id is not None
            try:
                file = await store.open_append(upload.object_key, upload.multipart_id, offset)
            except AppendLocked:
                raise UploadLocked(
                    f"upload {upload_id!r} is being written by another request"
                ) from None
            try:
                return await AppendWriter(self, upload, token, room, checksum, file).receive(body)
            finally:
                file.close()

    def _append_store(self, upload: TusUpload) -> LocalDiskStore | None:
        """The local store when this upload is written as one growing file: on local disk,
        unless it was begun as parts (by an earlier version), which it then finishes as."""
        store = self.store
        if not isinstance(store, LocalDiskStore) or upload.multipart_id is None:
            return None
        if upload.parts or upload.pending_key is not None:
            return None
        return store

    def _new_length(self, upload: TusUpload, new_length: int | None) -> int | None:
        if new_length is None:
            return upload.length
        if upload.length is not None and new_length != upload.length:
            raise InvalidTusRequest("Upload-Length cannot change once set")
        if new_length < upload.offset:
            raise InvalidTusRequest(f"Upload-Length {new_length} is below the offset")
        if new_length > self.settings.max_size:
            raise UploadTooLarge(f"Upload-Length {new_length} is over the limit")
        return new_length

    @contextlib.asynccontextmanager
    async def _lease(self, upload_id: str) -> AsyncIterator[str]:
        token = new_id()
        async with unit_of_work(self.sessions) as session:
            taken = await repo.acquire_lease(
                session, upload_id, token, utcnow(), self.settings.lease
            )
        if not taken:
            raise UploadLocked(f"upload {upload_id!r} is being written by another request")
        try:
            yield token
        finally:
            async with unit_of_work(self.sessions) as session:
                await repo.release_lease(session, upload_id, token)

    async def save(self, upload_id: str, token: str, values: dict[str, Any]) -> None:
        """Write progress under the lease (renewing it, and sliding the expiry)."""
        now = utcnow()
        values = {
            **values,
            "updated_at": now,
            "locked_until": now + self.settings.lease,
        }
        values.setdefault("expires_at", now + self.settings.expires_in)
        async with unit_of_work(self.sessions) as session:
            if not await repo.update_leased(session, upload_id, token, values):
                raise UploadLocked(f"upload {upload_id!r} was taken over by another request")

    # -- finishing ----------------------------------------------------------------------------
    async def assemble(self, upload: TusUpload, token: str) -> None:
        """Join the stored parts into the object, then hand it to the host. Safe to repeat:
        a join that happened before a crash is recognised by the object being there."""
        if upload.multipart_id is not None:
            store = self._append_store(upload)
            try:
                if store is not None:
                    await store.complete_append(
                        upload.object_key, upload.multipart_id, upload.offset
                    )
                else:
                    await self.store.complete_multipart(
                        upload.object_key, upload.multipart_id, upload.parts
                    )
            except UploadNotFound:
                if not await self.store.exists(upload.object_key):
                    raise
            await self.save(upload.id, token, {"multipart_id": None})
        await self._finish(upload.id)

    async def _finish(self, upload_id: str) -> None:
        async with unit_of_work(self.sessions) as session:
            upload = await repo.get_upload(session, upload_id)
            if upload is None or upload.status is not UploadStatus.ASSEMBLED:
                return
            now = utcnow()
            values = {
                "status": UploadStatus.COMPLETED,
                "completed_at": now,
                "updated_at": now,
                "expires_at": now + self.settings.expires_in,
            }
            if not await repo.mark_completed(session, upload_id, values):
                return
            if self.on_complete is not None:
                await self.on_complete(
                    session, replace(upload, status=UploadStatus.COMPLETED, completed_at=now)
                )

    async def _retry_finish(self, upload: TusUpload) -> None:
        async with self._lease(upload.id) as token:
            async with unit_of_work(self.sessions) as session:
                fresh = await repo.get_upload(session, upload.id)
            if fresh is not None and fresh.status is UploadStatus.ASSEMBLED:
                await self.assemble(fresh, token)

    # -- ending at the offset ---------------------------------------------------------------
    async def end(self, upload_id: str, owner: UploadOwner) -> TusUpload:
        """End an unfinished upload at the bytes stored, as a last PATCH declaring
        ``Upload-Length`` = offset would: the object is joined and ``on_complete`` runs (with
        ``offset`` 0 the object is empty). For a host ending an appended stream whose writer
        is gone. A request still writing is waited for (``head_waits_for_writer``), then
        UploadLocked; a finished upload answers as it is, so ending twice is harmless. A late
        PATCH then gets 409 ``upload-completed``."""
        async with unit_of_work(self.sessions) as session:
            upload = await repo.get_upload(session, upload_id)
        if upload is None or upload.tenant_id != owner.tenant_id:
            raise TusUploadNotFound(f"no upload {upload_id!r}")
        give_up = time.monotonic() + self.settings.head_waits_for_writer.total_seconds()
        while not upload.finished:
            try:
                async with self._lease(upload.id) as token:
                    await self._end(upload.id, token)
                break
            except UploadLocked:
                if time.monotonic() >= give_up:
                    raise
                await asyncio.sleep(WRITER_POLL_SECONDS)
        return await self._stored(upload_id)

    async def _end(self, upload_id: str, token: str) -> None:
        """Under the lease: declare the length as the offset, make the pending tail the last
        part (or cut the growing file back to the offset) and assemble."""
        upload = await self._stored(upload_id)
        if upload.finished:
            return
        length = upload.offset
        values: dict[str, Any] = {"length": length, "status": UploadStatus.ASSEMBLED}
        store = self._append_store(upload)
        if upload.multipart_id is not None and store is not None:
            # Bytes a dead writer wrote past the recorded offset are not the upload's.
            try:
                file = await store.open_append(upload.object_key, upload.multipart_id, length)
            except AppendLocked:
                raise UploadLocked(f"upload {upload_id!r} is being written") from None
            file.close()
        elif upload.multipart_id is not None:
            parts = list(upload.parts)
            if upload.pending_key is not None:
                data = await self.store.get(upload.pending_key)
                number = (length - upload.pending_size) // upload.part_size + 1
                etag = await self.store.upload_part(
                    upload.object_key, upload.multipart_id, number, data
                )
                parts.append(UploadedPart(part_number=number, etag=etag, size=len(data)))
            if not parts:  # nothing stored: an empty object, as an empty creation makes
                await self.store.abort_multipart(upload.object_key, upload.multipart_id)
                await self.store.put(upload.object_key, b"", upload.content_type)
                values["multipart_id"] = None
            values.update(parts=parts_json(tuple(parts)), pending_key=None, pending_size=0)
        await self.save(upload.id, token, values)
        if upload.pending_key is not None:
            with contextlib.suppress(Exception):  # an orphan tail is only wasted space
                await self.store.delete(upload.pending_key)
        await self.assemble(await self._stored(upload_id), token)

    async def _stored(self, upload_id: str) -> TusUpload:
        async with unit_of_work(self.sessions) as session:
            upload = await repo.get_upload(session, upload_id)
        if upload is None:
            raise TusUploadNotFound(f"no upload {upload_id!r}")
        return upload

    # -- termination and expiry -------------------------------------------------------------
    async def terminate(self, upload_id: str, owner: UploadOwner) -> None:
        """Drop an unfinished upload: its store parts, its pending tail and its record."""
        upload = await self.get(upload_id, owner)
        if upload.finished:
            raise UploadCompleted(
                f"upload {upload_id!r} is complete; delete the resource made from it instead"
            )
        async with self._lease(upload.id) as token:
            await self._discard(upload, token)

    async def _discard(self, upload: TusUpload, token: str) -> None:
        if upload.multipart_id is not None:
            await self.store.abort_multipart(upload.object_key, upload.multipart_id)
        if upload.pending_key is not None:
            await self.store.delete(upload.pending_key)
        async with unit_of_work(self.sessions) as session:
            await repo.delete_upload(session, upload.id, token)

    async def sweep(self, *, now: datetime | None = None, batch: int = 200) -> SweepResult:
        """Remove expired unfinished uploads (or end them at their offset, with
        ``end_when_expired``), forget finished ones past retention, and retry ``on_complete``
        for assembled ones. Schedule it as a cron job (``now`` is for tests)."""
        result = SweepResult()
        now = now or utcnow()
        async with unit_of_work(self.sessions) as session:
            due = await repo.expired_uploads(session, now, batch)
            assembled = await repo.assembled_uploads(session, batch)
        for upload in assembled:
            try:
                await self._retry_finish(upload)
                result = replace(result, finished=result.finished + 1)
            except Exception as exc:
                _log.warning("tus upload not finished", upload_id=upload.id, error=repr(exc))
                result = replace(result, failed=result.failed + 1)
        for upload in due:
            if upload.status is UploadStatus.COMPLETED:
                async with unit_of_work(self.sessions) as session:
                    await repo.delete_upload(session, upload.id)
                result = replace(result, forgotten=result.forgotten + 1)
            elif upload.status is UploadStatus.RECEIVING and self.settings.end_when_expired:
                try:
                    async with self._lease(upload.id) as token:
                        await self._end(upload.id, token)
                    result = replace(result, ended=result.ended + 1)
                except UploadLocked:
                    pass  # a writer came back: it is not idle after all
                except Exception as exc:
                    _log.warning("tus upload not ended", upload_id=upload.id, error=repr(exc))
                    result = replace(result, failed=result.failed + 1)
            elif upload.status is UploadStatus.RECEIVING:
                with contextlib.suppress(UploadLocked):
                    async with self._lease(upload.id) as token:
                        await self._discard(upload, token)
                        result = replace(result, removed=result.removed + 1)
        return result


def _being_written(upload: TusUpload) -> bool:
    return (
        upload.status is UploadStatus.RECEIVING
        and upload.locked_until is not None
        and upload.locked_until > utcnow()
    )
