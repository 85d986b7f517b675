"""The embedded object store: objects as files under one root directory. All disk work runs in
worker threads (``asyncio.to_thread``) so the event loop never waits on the disk; presigned
links are HMAC tokens served by ``presigned_routes``."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

from v100.kit.errors import BackendUnavailable, ProblemError
from v100.kit.storage import _localfs as fs
from v100.kit.storage import _localparts as parts_fs
from v100.kit.storage._base import (
    Data,
    MiB,
    ObjectInfo,
    ObjectStore,
    StoredObject,
    UploadedPart,
    check_cutoff,
    check_expires_in,
    check_part_number,
    check_range,
    validate_key,
)
from v100.kit.storage._errors import RangeNotSatisfiable
from v100.kit.storage._localparts import AppendLocked
from v100.kit.storage._presign import Method, PresignedGrant, sign_grant, verify_grant

__all__ = ["AppendLocked", "LocalAppendFile", "LocalDiskStore", "LocalObjectReader"]

P = ParamSpec("P")
T = TypeVar("T")


async def _off_loop(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except ProblemError:
        raise
    except OSError as exc:
        # Full disk, read-only mount, lost permissions: the store is unusable, not the request.
        raise BackendUnavailable(f"local object storage failed: {exc.strerror or exc}") from exc


class LocalObjectReader:
    """One open version of an object: its info, and ranged streaming from the same file even if
    the key is replaced meanwhile. Close it (or use ``async with``)."""

    def __init__(self, fd: int, info: ObjectInfo, chunk_size: int) -> None:
        self._fd: int | None = fd
        self.info = info
        self._chunk_size = chunk_size

    async def __aenter__(self) -> LocalObjectReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        # A response that never started streaming still lets go of its descriptor.
        self.close()

    def _require_fd(self) -> int:
        if self._fd is None:
            raise RuntimeError("reader is closed")
        return self._fd

    async def read(self, start: int, count: int) -> bytes:
        return await _off_loop(os.pread, self._require_fd(), count, start)

    async def iter_bytes(
        self, start: int = 0, end_inclusive: int | None = None
    ) -> AsyncIterator[bytes]:
        """Bytes ``start..end_inclusive`` (cut at the end of the object)."""
        fd = self._require_fd()
        end = self.info.size if end_inclusive is None else min(end_inclusive + 1, self.info.size)
        position = start
        while position < end:
            chunk = await _off_loop(os.pread, fd, min(self._chunk_size, end - position), position)
            if not chunk:
                return
            position += len(chunk)
            yield chunk


def _pwritev(fd: int, chunks: Sequence[bytes], at: int) -> None:
    """Write ``chunks`` one after another at ``at``: one system call for many HTTP chunks, and
    no copy to join them first."""
    while chunks:
        written = os.pwritev(fd, chunks[:1024], at)  # IOV_MAX
        at += written
        while chunks and written >= len(chunks[0]):
            written -= len(chunks[0])
            chunks = chunks[1:]
        if written:  # a short write ended inside a chunk
            chunks = [chunks[0][written:], *chunks[1:]]


class LocalAppendFile:
    """A multipart upload written as one growing file (``LocalDiskStore.open_append``): bytes
    go straight to their offset, ``sync`` makes everything written so far durable, and
    ``complete_append`` publishes the file by renaming it. One writer at a time: opening it
    while another descriptor has it open raises ``AppendLocked``. Close it when done."""

    def __init__(self, fd: int, fsync: bool) -> None:
        self._fd: int | None = fd
        self._fsync = fsync

    def _require_fd(self) -> int:
        if self._fd is None:
            raise RuntimeError("append file is closed")
        return self._fd

    async def write(self, chunks: Sequence[bytes], at: int) -> None:
        """Write ``chunks`` back to back starting at byte ``at`` (in a worker thread)."""
        await _off_loop(_pwritev, self._require_fd(), list(chunks), at)

    async def sync(self) -> None:
        """Make what was written durable (``fdatasync``); a no-op for a store without fsync."""
        if self._fsync:
            await _off_loop(os.fdatasync, self._require_fd())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the writer's lock
            self._fd = None

    def __del__(self) -> None:
        self.close()


class LocalDiskStore(ObjectStore):
    """Objects under ``root``. ``signing_key`` signs presigned links (random when omitted, so
    links then die with the process); links point at ``presign_base_url`` + ``/<token>``, where
    ``presigned_routes`` must be mounted (a path-only base resolves against the page origin)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        signing_key: bytes | None = None,
        presign_base_url: str = "/_objects",
        fsync: bool = True,
        chunk_size: int = MiB,
    ) -> None:
        self.root = Path(root)
        self._layout = fs.Layout(self.root)
        self._signing_key = signing_key or secrets.token_bytes(32)
        self._presign_base_url = presign_base_url.rstrip("/")
        self._fsync = fsync
        self._chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"LocalDiskStore({str(self.root)!r})"

    # -- lifecycle ------------------------------------------------------------------------
    async def ensure_bucket(self) -> None:
        await _off_loop(self._layout.create_dirs)

    async def ping(self) -> None:
        def check() -> None:
            if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
                raise BackendUnavailable(f"object root {str(self.root)!r} is not writable")

        await _off_loop(check)

    async def close(self) -> None:
        return None

    # -- objects --------------------------------------------------------------------------
    async def put(self, key: str, data: Data, content_type: str | None = None) -> StoredObject:
        validate_key(key)
        if isinstance(data, bytes | bytearray | memoryview):
            return await _off_loop(
                fs.write_object, self._layout, key, bytes(data), content_type, self._fsync
            )
        obj = await _off_loop(fs.TempObject, self._layout)
        try:
            # Batch small chunks (an HTTP body arrives in 64 KiB pieces) into fewer thread hops.
            buffer = bytearray()
            async for chunk in data:
                buffer += chunk
                if len(buffer) >= self._chunk_size:
                    await _off_loop(obj.write, bytes(buffer))
                    buffer.clear()
            if buffer:
                await _off_loop(obj.write, bytes(buffer))
            return await _off_loop(obj.commit, key, content_type, self._fsync)
        except BaseException:
            await asyncio.shield(_off_loop(obj.discard))
            raise

    async def get(self, key: str) -> bytes:
        validate_key(key)
        return await _off_loop(fs.read_all, self._layout, key)

    async def open_reader(self, key: str) -> LocalObjectReader:
        """Open one version of ``key`` for ranged streaming (used by the presigned routes)."""
        validate_key(key)
        fd, info = await _off_loop(fs.open_read, self._layout, key)
        return LocalObjectReader(fd, info, self._chunk_size)

    async def open(
        self, key: str, start: int = 0, end_inclusive: int | None = None
    ) -> AsyncIterator[bytes]:
        if start < 0 or (end_inclusive is not None and end_inclusive < start):
            raise ValueError(f"invalid byte range {start}-{end_inclusive}")
        async with await self.open_reader(key) as reader:
            # As S3: a range (any start or end given) must begin inside the object.
            if (start or end_inclusive is not None) and start >= reader.info.size:
                raise RangeNotSatisfiable(f"{key!r} has {reader.info.size} bytes")
            async for chunk in reader.iter_bytes(start, end_inclusive):
                yield chunk

    async def get_range(self, key: str, start: int, end_inclusive: int) -> bytes:
        check_range(start, end_inclusive)
        async with await self.open_reader(key) as reader:
            size = reader.info.size
            if start >= size:
                raise RangeNotSatisfiable(f"{key!r} has {size} bytes")
            return await reader.read(start, min(end_inclusive + 1, size) - start)

    async def head(self, key: str) -> ObjectInfo:
        validate_key(key)
        return await _off_loop(fs.read_info, self._layout, key)

    async def delete(self, key: str) -> None:
        validate_key(key)
        await _off_loop(fs.delete_object, self._layout, key)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        entries = fs.list_objects(self._layout, prefix)
        while True:
            batch = await _off_loop(lambda: [*itertools.islice(entries, 500)])
            if not batch:
                return
            for info in batch:
                yield info

    # -- multipart ------------------------------------------------------------------------
    async def create_multipart(self, key: str, content_type: str | None = None) -> str:
        validate_key(key)
        return await _off_loop(parts_fs.create_upload, self._layout, key, content_type)

    async def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> str:
        validate_key(key)
        check_part_number(part_number)
        return await _off_loop(
            parts_fs.write_part, self._layout, key, upload_id, part_number, data, self._fsync
        )

    async def list_parts(self, key: str, upload_id: str) -> Sequence[UploadedPart]:
        validate_key(key)
        return await _off_loop(parts_fs.list_upload_parts, self._layout, key, upload_id)

    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> StoredObject:
        validate_key(key)
        return await _off_loop(
            parts_fs.complete_upload, self._layout, key, upload_id, parts, self._fsync
        )

    # -- appending (local disk only: the tus fast path) ------------------------------------
    async def open_append(self, key: str, upload_id: str, offset: int) -> LocalAppendFile:
        """Open multipart upload ``upload_id`` as one growing file, cut to ``offset`` (bytes
        past it were never recorded by the caller and are dropped). An upload written this way
        has no parts: finish it with ``complete_append``, or drop it with ``abort_multipart``.
        ``AppendLocked`` when another writer holds it."""
        validate_key(key)
        if offset < 0:
            raise ValueError("offset must not be negative")
        fd = await _off_loop(parts_fs.open_append, self._layout, key, upload_id, offset)
        return LocalAppendFile(fd, self._fsync)

    async def complete_append(self, key: str, upload_id: str, size: int) -> StoredObject:
        """Publish an appended upload of ``size`` bytes as ``key``: a rename, no copy. The
        etag is an opaque version tag (see ``ObjectInfo.etag``), not a digest of the bytes."""
        validate_key(key)
        return await _off_loop(
            parts_fs.complete_append, self._layout, key, upload_id, size, self._fsync
        )

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        validate_key(key)
        await _off_loop(parts_fs.abort_upload, self._layout, key, upload_id)

    async def sweep_multipart(self, older_than: datetime) -> int:
        """Remove the uploads whose directory and files were all last modified before
        ``older_than``, and what an interrupted abort left in ``uploads/.trash/``."""
        check_cutoff(older_than)
        return await _off_loop(parts_fs.sweep_uploads, self._layout, older_than.timestamp())

    # -- presigned links ------------------------------------------------------------------
    def _presign(self, grant: PresignedGrant) -> str:
        return f"{self._presign_base_url}/{sign_grant(self._signing_key, grant)}"

    async def presign_get(self, key: str, expires_in: int, filename: str | None = None) -> str:
        validate_key(key)
        check_expires_in(expires_in)
        expires_at = int(time.time()) + expires_in
        return self._presign(PresignedGrant(key, "GET", expires_at, filename=filename))

    async def presign_put(self, key: str, expires_in: int, content_type: str | None = None) -> str:
        validate_key(key)
        check_expires_in(expires_in)
        expires_at = int(time.time()) + expires_in
        return self._presign(PresignedGrant(key, "PUT", expires_at, content_type=content_type))

    def verify_presigned(self, token: str, method: Method | str) -> PresignedGrant:
        """The grant a link's token carries; ``InvalidPresignedUrl`` when forged, expired or
        used with a method it does not allow."""
        return verify_grant(self._signing_key, token, method)
