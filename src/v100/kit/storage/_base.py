"""The object store contract shared by every backend: the ``ObjectStore`` interface, its value
types, key validation, and the multipart sizing rules (S3's limits, applied everywhere so the
embedded backend fails where production would)."""

from __future__ import annotations

import abc
import itertools
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Self
from urllib.parse import quote

from v100.kit.storage._errors import InvalidKey, InvalidPart, ObjectNotFound
from v100.kit.text import BIDI_CONTROLS

__all__ = [
    "MAX_EXPIRES_IN",
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MIN_PART_SIZE",
    "MiB",
    "ObjectInfo",
    "ObjectStore",
    "StoredObject",
    "UploadedPart",
    "content_disposition",
    "part_size_for",
    "validate_key",
    "validate_prefix",
]

MiB = 1024 * 1024
# S3's multipart rules: every part but the last at least 5 MiB, at most 5 GiB, 10,000 parts.
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10_000
# SigV4 presigned URLs live at most 7 days; the local backend keeps the same ceiling.
MAX_EXPIRES_IN = 7 * 24 * 3600

_MAX_KEY_BYTES = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")

Data = bytes | AsyncIterator[bytes]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    # None when the backend does not say (S3 listings carry no content type).
    content_type: str | None
    # Unquoted; for a single PUT the MD5 of the content, for a multipart object
    # ``md5(part md5s)-<parts>`` as S3 computes it; for a local upload written as one growing
    # file (``LocalDiskStore.complete_append``) an opaque ``<hex>-1``. A multipart etag is a
    # version tag, never a digest of the bytes.
    etag: str
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int
    etag: str


@dataclass(frozen=True, slots=True)
class UploadedPart:
    part_number: int
    etag: str
    # Known when listed; not needed to complete an upload.
    size: int | None = None


def validate_key(key: str) -> str:
    """Raise ``InvalidKey`` unless ``key`` is a relative, '/'-separated path with no empty, '.'
    or '..' segment, no control character or backslash, at most 1024 UTF-8 bytes."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("object key is empty")
    if len(key.encode("utf-8", "surrogatepass")) > _MAX_KEY_BYTES:
        raise InvalidKey("object key is longer than 1024 bytes")
    if _CONTROL.search(key):
        raise InvalidKey("object key contains a control character or a backslash")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey(
                "object key must be a relative path without empty, '.' or '..' segments"
            )
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix: its directory part must be a valid key; the rest is a name's start."""
    directory, _, start = prefix.rpartition("/")
    if directory:
        validate_key(directory)
    if _CONTROL.search(start):
        raise InvalidKey("prefix contains a control character or a backslash")
    return prefix


def check_part_number(part_number: int) -> None:
    if not 1 <= part_number <= MAX_PARTS:
        raise InvalidPart(f"part number must be between 1 and {MAX_PARTS}")


def check_range(start: int, end_inclusive: int) -> None:
    if start < 0 or end_inclusive < start:
        raise ValueError(f"invalid byte range {start}-{end_inclusive}")


def check_cutoff(older_than: datetime) -> None:
    if older_than.tzinfo is None:
        raise ValueError("older_than must be timezone-aware")


def check_expires_in(expires_in: int) -> None:
    if not 1 <= expires_in <= MAX_EXPIRES_IN:
        raise ValueError(f"expires_in must be between 1 and {MAX_EXPIRES_IN} seconds")


def part_size_for(
    total_size: int,
    min_part: int = MIN_PART_SIZE,
    max_parts: int = MAX_PARTS,
    *,
    max_part: int = MAX_PART_SIZE,
) -> int:
    """The smallest part size (a whole number of MiB when that still fits ``max_part``) that
    uploads ``total_size`` bytes in at most ``max_parts`` parts of at least ``min_part``."""
    if total_size < 0 or min_part <= 0 or max_parts <= 0:
        raise ValueError("sizes and part count must be positive")
    needed = max(min_part, -(-total_size // max_parts))
    if needed > max_part:
        raise ValueError(
            f"{total_size} bytes need parts of {needed} bytes, over the {max_part} limit"
        )
    rounded = -(-needed // MiB) * MiB
    return rounded if rounded <= max_part else needed


def content_disposition(filename: str) -> str:
    """An ``attachment`` header value for ``filename``: an ASCII fallback plus RFC 5987 UTF-8.
    Controls and bidi overrides are dropped: they would make the saved name lie."""
    filename = BIDI_CONTROLS.sub("", _CONTROL.sub("", filename)) or "download"
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def check_parts_order(parts: Sequence[UploadedPart]) -> None:
    if not parts:
        raise InvalidPart("a multipart upload needs at least one part")
    numbers = [p.part_number for p in parts]
    if any(b <= a for a, b in itertools.pairwise(numbers)):
        raise InvalidPart("parts must be listed in ascending part number order, once each")
    for number in numbers:
        check_part_number(number)


class ObjectStore(abc.ABC):
    """Async object storage. Keys are validated the same way by every backend (``validate_key``);
    etags are unquoted; a missing object raises ``ObjectNotFound``; an unreachable backend
    raises the kit's ``BackendUnavailable``."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- lifecycle ------------------------------------------------------------------------
    @abc.abstractmethod
    async def ensure_bucket(self) -> None:
        """Create the bucket (S3) or the root directory (local disk) when missing."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Readiness: return when the store answers, raise ``BackendUnavailable`` otherwise."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    # -- objects --------------------------------------------------------------------------
    @abc.abstractmethod
    async def put(self, key: str, data: Data, content_type: str | None = None) -> StoredObject:
        """Store ``data`` under ``key`` atomically: readers see the old object or the new one."""

    @abc.abstractmethod
    async def get(self, key: str) -> bytes: ...

    @abc.abstractmethod
    def open(
        self, key: str, start: int = 0, end_inclusive: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream the object (or a byte range of it) in chunks. An async generator: a missing
        key raises ``ObjectNotFound`` on the first iteration."""

    @abc.abstractmethod
    async def get_range(self, key: str, start: int, end_inclusive: int) -> bytes:
        """Bytes ``start..end_inclusive``, cut at the end of the object as HTTP ranges are;
        ``RangeNotSatisfiable`` when ``start`` is at or past the end."""

    @abc.abstractmethod
    async def head(self, key: str) -> ObjectInfo: ...

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error (as in S3)."""

    async def exists(self, key: str) -> bool:
        try:
            await self.head(key)
        except ObjectNotFound:
            return False
        return True

    @abc.abstractmethod
    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``. Local disk and AWS S3 list in UTF-8 byte
        order; SeaweedFS walks its directory tree, so "a/b" may come before "a.b"."""

    # -- multipart (resumable uploads; the caller persists the upload id) -----------------
    @abc.abstractmethod
    async def create_multipart(self, key: str, content_type: str | None = None) -> str: ...

    @abc.abstractmethod
    async def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> str:
        """Store part ``part_number`` (1..10000; uploading it again replaces it); its etag."""

    @abc.abstractmethod
    async def list_parts(self, key: str, upload_id: str) -> Sequence[UploadedPart]:
        """The uploaded parts, one per part number, ascending; ``UploadNotFound`` once the
        upload is completed or aborted."""

    @abc.abstractmethod
    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> StoredObject:
        """Join ``parts`` (ascending part numbers, etags as returned by ``upload_part``)."""

    @abc.abstractmethod
    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts; aborting an unknown upload is not an error. A part
        write still in flight (a cancelled caller's, whose worker thread or request runs on)
        is waited for or fenced off, and what it stored is dropped too."""

    @abc.abstractmethod
    async def sweep_multipart(self, older_than: datetime) -> int:
        """Abort every multipart upload nothing was written to since ``older_than``, as
        ``abort_multipart`` does; the number aborted. The second line behind aborts (an upload
        whose owner crashed, a part that landed after all): run it periodically, with a bound
        far beyond the longest pause of any legitimate upload."""

    # -- presigned URLs -------------------------------------------------------------------
    @abc.abstractmethod
    async def presign_get(self, key: str, expires_in: int, filename: str | None = None) -> str:
        """A URL anyone may GET (with Range) until it expires; ``filename`` makes the download
        an attachment with that name."""

    @abc.abstractmethod
    async def presign_put(self, key: str, expires_in: int, content_type: str | None = None) -> str:
        """A URL anyone may PUT the object's bytes to; with ``content_type`` the upload must
        send exactly that ``Content-Type``."""
