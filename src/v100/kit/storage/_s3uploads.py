"""S3 multipart uploads that must leave nothing behind. ``PartWrites`` fences this process's
part uploads: each request runs to its end even when its caller is cancelled, an upload being
aborted takes no new part, and the abort waits for the requests already sent. AWS documents
that a part still uploading may land after an abort, so the abort is sent again once they are
done; ``orphaned_uploads`` finds what still escapes (another process, a crash) for the sweep."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from v100.kit.observability import get_logger
from v100.kit.storage._errors import UploadNotFound
from v100.kit.storage._s3errors import translated_errors

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import ListMultipartUploadsRequestTypeDef

__all__ = ["PartWrites", "orphaned_uploads"]

_log = get_logger("v100.kit.storage")


class PartWrites:
    """The part uploads in flight in this process, per upload id, and the ids being aborted."""

    def __init__(self) -> None:
        self._running: dict[str, set[asyncio.Task[str]]] = {}
        self._fenced: Counter[str] = Counter()

    def start(self, upload_id: str, request: Coroutine[Any, Any, str]) -> asyncio.Task[str]:
        """Run ``request`` (one UploadPart) as a task of its own: a cancelled caller stops
        waiting for it, not the request, so an abort knows when it is over."""
        if upload_id in self._fenced:
            request.close()
            raise UploadNotFound(f"upload {upload_id!r} is being aborted")
        task = asyncio.create_task(request)
        self._running.setdefault(upload_id, set()).add(task)
        task.add_done_callback(partial(self._finished, upload_id))
        return task

    def _finished(self, upload_id: str, task: asyncio.Task[str]) -> None:
        running = self._running.get(upload_id)
        if running is not None:
            running.discard(task)
            if not running:
                del self._running[upload_id]
        if not task.cancelled():
            task.exception()  # retrieved here: the caller may have stopped waiting

    def in_flight(self, upload_id: str) -> bool:
        return upload_id in self._running or upload_id in self._fenced

    @contextlib.asynccontextmanager
    async def fenced(self, upload_id: str, wait: float) -> AsyncIterator[None]:
        """Refuse new parts of ``upload_id`` from now on and wait (at most ``wait`` seconds)
        for those in flight; the body then aborts it."""
        self._fenced[upload_id] += 1
        try:
            running = set(self._running.get(upload_id, ()))
            if running:
                _, late = await asyncio.wait(running, timeout=wait)
                if late:
                    # Left to the sweep: aborting now may let these parts land after it.
                    _log.warning("part uploads outlived the abort wait", upload_id=upload_id)
            yield
        finally:
            self._fenced[upload_id] -= 1
            if not self._fenced[upload_id]:
                del self._fenced[upload_id]


async def orphaned_uploads(
    client: S3Client, bucket: str, prefix: str, older_than: datetime
) -> AsyncIterator[tuple[str, str]]:
    """(key, upload id) of the uploads under ``prefix`` initiated before ``older_than`` and
    given no part since (a tus upload may resume after a pause, so age alone is not enough)."""
    request: ListMultipartUploadsRequestTypeDef = {"Bucket": bucket, "Prefix": prefix}
    while True:
        with translated_errors(prefix):
            page = await client.list_multipart_uploads(**request)
        uploads = page.get("Uploads", [])
        for upload in uploads:
            key, upload_id = upload["Key"], upload["UploadId"]
            if upload["Initiated"] < older_than and not await _touched_since(
                client, bucket, key, upload_id, older_than
            ):
                yield key, upload_id
        # SeaweedFS sends no NextKeyMarker and says truncated on the last page: use the last
        # upload seen, and stop on an empty page.
        if not page.get("IsTruncated") or not uploads:
            return
        request["KeyMarker"] = uploads[-1]["Key"]
        request["UploadIdMarker"] = uploads[-1]["UploadId"]


async def _touched_since(
    client: S3Client, bucket: str, key: str, upload_id: str, since: datetime
) -> bool:
    marker = 0
    while True:
        try:
            with translated_errors(key):
                page = await client.list_parts(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker
                )
        except UploadNotFound:
            return True  # completed or aborted meanwhile: nothing to sweep
        if any(part["LastModified"] >= since for part in page.get("Parts", [])):
            return True
        marker = int(page.get("NextPartNumberMarker") or 0)
        if not page.get("IsTruncated") or not marker:
            return False
