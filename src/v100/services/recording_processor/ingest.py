"""Streaming a request body into object storage as a multipart upload, never holding more than
about two parts in memory: a part is written while the next one is read. The size limit is
enforced as bytes arrive; past it, or on an empty or broken body, the upload is aborted so
nothing half-stored remains."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from v100.kit.storage import ObjectStore, StoredObject, UploadedPart
from v100.services.recording_processor.errors import EmptyRecording, RecordingTooLarge

__all__ = ["StreamedUpload", "stream_to_storage"]

# Called after each part is stored with the bytes received so far.
OnPart = Callable[[int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class StreamedUpload:
    stored: StoredObject
    parts: int


async def stream_to_storage(
    storage: ObjectStore,
    key: str,
    upload_id: str,
    chunks: AsyncIterator[bytes],
    *,
    limit: int,
    part_size: int,
    on_part: OnPart | None = None,
) -> StreamedUpload:
    """Upload ``chunks`` as the parts of ``upload_id`` (already created on ``key``) and complete
    it. ``RecordingTooLarge`` past ``limit`` bytes, ``EmptyRecording`` for no bytes; on those
    and on any other failure (a client that went away) the multipart upload is aborted."""
    parts: list[UploadedPart] = []
    received = 0
    buffer = bytearray()
    writing: asyncio.Task[UploadedPart] | None = None

    async def write(number: int, data: bytes) -> UploadedPart:
        etag = await storage.upload_part(key, upload_id, number, data)
        return UploadedPart(number, etag, len(data))

    async def flush(data: bytes) -> None:
        nonlocal writing
        if writing is not None:
            parts.append(await writing)
            writing = None
            if on_part is not None:
                await on_part(received)
        # Every part before this one is stored: it is number len(parts) + 1.
        writing = asyncio.create_task(write(len(parts) + 1, data))

    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise RecordingTooLarge(f"A recording takes at most {limit} bytes.")
            buffer += chunk
            if len(buffer) >= part_size:
                await flush(bytes(buffer))
                buffer.clear()
        if received == 0:
            raise EmptyRecording("The request body was empty.")
        if buffer:
            await flush(bytes(buffer))
            buffer.clear()
        if writing is not None:
            parts.append(await writing)
            writing = None
        stored = await storage.complete_multipart(key, upload_id, parts)
    except BaseException:
        if writing is not None:
            writing.cancel()
            with contextlib.suppress(BaseException):
                await writing
        # Shielded: a cancelled request (client gone) must still drop its parts.
        with contextlib.suppress(Exception):
            await asyncio.shield(storage.abort_multipart(key, upload_id))
        raise
    return StreamedUpload(stored, len(parts))
