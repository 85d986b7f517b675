"""Reading and writing tus's request headers: Upload-Length/Offset, Upload-Metadata (key and
base64 value pairs), Upload-Checksum (algorithm and base64 digest) and Upload-Expires."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from v100.kit.tus._errors import InvalidTusRequest

__all__ = [
    "CHECKSUM_ALGORITHMS",
    "Checksum",
    "encode_metadata",
    "http_date",
    "parse_checksum",
    "parse_metadata",
    "parse_size",
]

# tus names algorithms as IANA's hash registry does; hashlib's names happen to match.
CHECKSUM_ALGORITHMS = ("sha1", "md5", "sha256", "sha512")
_METADATA_KEY = re.compile(r"[^\s,]+")
_MAX_METADATA_BYTES = 16 * 1024


def parse_size(name: str, value: str | None) -> int | None:
    """A non-negative decimal header (Upload-Length, Upload-Offset); None when absent."""
    if value is None:
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        raise InvalidTusRequest(f"{name} must be a non-negative integer")
    return int(value)


def parse_metadata(header: str | None) -> dict[str, str | None]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs, the value optional; values
    must be UTF-8 text (file names, MIME types), which is what every tus client sends."""
    if not header or not header.strip():
        return {}
    if len(header) > _MAX_METADATA_BYTES:
        raise InvalidTusRequest(f"Upload-Metadata is longer than {_MAX_METADATA_BYTES} bytes")
    metadata: dict[str, str | None] = {}
    for pair in header.split(","):
        fields = pair.strip().split(" ")
        key = fields[0]
        if not _METADATA_KEY.fullmatch(key) or len(fields) > 2 or key in metadata:
            raise InvalidTusRequest(f"Upload-Metadata has a malformed pair {pair.strip()!r}")
        if len(fields) == 1:
            metadata[key] = None
            continue
        try:
            metadata[key] = base64.b64decode(fields[1], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidTusRequest(
                f"Upload-Metadata value of {key!r} is not base64-encoded UTF-8"
            ) from None
    return metadata


def encode_metadata(metadata: Mapping[str, str | None]) -> str:
    return ",".join(
        key if value is None else f"{key} {base64.b64encode(value.encode()).decode('ascii')}"
        for key, value in metadata.items()
    )


@dataclass(frozen=True, slots=True)
class Checksum:
    algorithm: str
    digest: bytes

    def hasher(self) -> Any:
        return hashlib.new(self.algorithm, usedforsecurity=False)


def parse_checksum(header: str | None, allowed: tuple[str, ...]) -> Checksum | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``; None when absent."""
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in allowed:
        raise InvalidTusRequest(
            f"Upload-Checksum algorithm {algorithm!r} is not supported; "
            f"use one of {', '.join(allowed)}"
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise InvalidTusRequest("Upload-Checksum digest is not base64") from None
    if len(digest) != hashlib.new(algorithm, usedforsecurity=False).digest_size:
        raise InvalidTusRequest(f"Upload-Checksum digest has the wrong length for {algorithm}")
    return Checksum(algorithm, digest)


def http_date(moment: datetime) -> str:
    """RFC 9110's IMF-fixdate, as Upload-Expires wants it."""
    return format_datetime(moment, usegmt=True)
