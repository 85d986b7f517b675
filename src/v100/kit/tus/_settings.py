"""How a tus endpoint behaves: size limits, part sizing for the object store, expiry, the write
lease, where objects go, and how Location URLs are built behind a proxy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from v100.kit.storage import MAX_PARTS, MIN_PART_SIZE, part_size_for
from v100.kit.tus._headers import CHECKSUM_ALGORITHMS

__all__ = ["TusSettings"]


@dataclass(frozen=True, slots=True)
class TusSettings:
    # Tus-Max-Size: the largest upload accepted (S3 takes 5 TiB in one object).
    max_size: int = 50 * 1024**3
    # Parts are ``part_size_for(Upload-Length, min_part_size, max_parts)``: every part but the
    # last exactly that size. Lower ``max_parts`` for stores that allow fewer than S3's 10,000;
    # raise ``min_part_size`` for fewer, larger store calls.
    min_part_size: int = MIN_PART_SIZE
    max_parts: int = MAX_PARTS
    # Local disk writes an upload as one growing file instead of parts; while a PATCH body
    # streams in, its offset is recorded (after an fdatasync) every this many bytes, as well
    # as at the end of the body and when the body breaks. It bounds what a crash loses.
    checkpoint_bytes: int = 16 * 1024 * 1024
    # An unfinished upload untouched this long expires (Upload-Expires slides with each write);
    # a finished one keeps its record this long for HEAD, then only the object remains.
    expires_in: timedelta = timedelta(hours=24)
    # How long a writing request holds an upload without renewing (it renews while the body
    # streams); a process that died mid-PATCH blocks the upload this long at most.
    lease: timedelta = timedelta(seconds=15)
    # A HEAD that finds a PATCH still writing (say, saving what arrived before its connection
    # broke) waits up to this long for it to end, so a client resuming gets the offset that
    # request ends at rather than an older one its next PATCH would conflict with.
    head_waits_for_writer: timedelta = timedelta(seconds=5)
    # What the expiry sweep does with an unfinished upload: drop it (the default: a client
    # that never came back), or end it at its offset (``TusUploads.end``: what was stored
    # becomes the object and ``on_complete`` runs) for hosts whose uploads are appended
    # streams, where every stored prefix is worth keeping (a meeting recording).
    end_when_expired: bool = False
    # Finished objects are ``<key_prefix>/<upload id>``; pending tails live under
    # ``<pending_prefix>/<upload id>/``.
    key_prefix: str = "uploads"
    pending_prefix: str = "_tus/pending"
    checksum_algorithms: tuple[str, ...] = CHECKSUM_ALGORITHMS
    # The public URL of the creation endpoint (e.g. "https://api.example.com/v1/uploads"):
    # Location is this plus "/<id>". When unset it is built from the request, honouring
    # X-Forwarded-Proto/-Host/-Prefix when ``trust_forwarded_headers``.
    public_base_url: str | None = None
    trust_forwarded_headers: bool = True
    # The public origin (e.g. "https://api.example.com") in front of the request's own path:
    # for a server whose creation URLs vary (a signed path) behind a proxy that keeps paths.
    # Set, Host and X-Forwarded-* are not read.
    public_origin: str | None = None

    def __post_init__(self) -> None:
        if self.max_size <= 0 or self.checkpoint_bytes <= 0:
            raise ValueError("max_size and checkpoint_bytes must be positive")
        if self.expires_in <= timedelta(0) or self.lease <= timedelta(0):
            raise ValueError("expires_in and lease must be positive")
        # Fails now, not on the first deferred-length upload, if the limits cannot meet.
        part_size_for(self.max_size, self.min_part_size, self.max_parts)

    def part_size(self, length: int | None) -> int:
        """Deferred-length uploads size parts for ``max_size``, so any length still fits."""
        return part_size_for(
            self.max_size if length is None else max(length, 1),
            self.min_part_size,
            self.max_parts,
        )
