"""HTTP delivery of stored HLS objects, as a CDN edge answers them: the media type by file kind,
``Cache-Control`` by kind (segments never change: long-lived and immutable; playlists may be
rewritten: short), ``ETag`` with ``If-None-Match`` (304), one byte range (206, ``If-Range``;
416 with ``Content-Range: bytes */size``), ``Accept-Ranges`` and HEAD. The body streams from
the store (a ranged GET on S3), never held whole."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.datastructures import Headers
from starlette.responses import Response, StreamingResponse

from v100.kit.storage import ObjectStore, RangeNotSatisfiable, parse_range

__all__ = ["CachePolicy", "FileKind", "deliver", "etag_matches", "file_kind", "media_type"]

FileKind = Literal["playlist", "segment", "subtitles", "image", "other"]

_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/mp4",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".mp3": "audio/mpeg",
    ".vtt": "text/vtt; charset=utf-8",
    ".webvtt": "text/vtt; charset=utf-8",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
_KINDS: dict[str, FileKind] = {
    ".m3u8": "playlist",
    ".ts": "segment",
    ".m4s": "segment",
    ".mp4": "segment",
    ".m4v": "segment",
    ".m4a": "segment",
    ".aac": "segment",
    ".mp3": "segment",
    ".vtt": "subtitles",
    ".webvtt": "subtitles",
    ".jpg": "image",
    ".jpeg": "image",
    ".png": "image",
    ".webp": "image",
}


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def file_kind(path: str) -> FileKind:
    return _KINDS.get(_suffix(path), "other")


def media_type(path: str) -> str:
    """The Content-Type of an HLS file: fMP4 init and media segments of an audio-only rendition
    (under an ``audio/`` folder) are ``audio/mp4``, other fMP4 ``video/mp4``."""
    suffix = _suffix(path)
    if suffix in (".m4s", ".mp4") and (path.startswith("audio/") or "/audio/" in path):
        return "audio/mp4"
    return _TYPES.get(suffix, "application/octet-stream")


@dataclass(frozen=True, slots=True)
class CachePolicy:
    playlist_max_age: int
    segment_max_age: int

    def for_kind(self, kind: FileKind) -> str:
        if kind == "playlist":
            # A finished video's playlists change only when a caption track is added: a short
            # life in shared caches, then revalidated by ETag.
            return f"public, max-age={self.playlist_max_age}"
        # Segments, subtitles files and images are stored once under their name and never
        # rewritten: any cache may keep them as long as the URL lives.
        return f"public, max-age={self.segment_max_age}, immutable"


def etag_matches(header: str | None, etag: str) -> bool:
    """``If-None-Match`` against our (strong) ETag, compared weakly (RFC 9110 13.1.2)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == ours for tag in header.split(","))


async def deliver(
    store: ObjectStore, key: str, path: str, request_headers: Headers, method: str,
    policy: CachePolicy,
) -> Response:  # fmt: skip
    """Answer a GET or HEAD of ``key`` (named ``path`` in the URL) from ``store``. Raises
    ``ObjectNotFound`` when there is no such object."""
    info = await store.head(key)
    etag = f'"{info.etag}"'
    kind = file_kind(path)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": policy.for_kind(kind), "ETag": etag}
    if etag_matches(request_headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    size = info.size
    try:
        wanted = request_headers.get("range")
        if_range = request_headers.get("if-range")
        if if_range is not None and if_range.strip() != etag:
            wanted = None  # the client's copy is another version: send the whole object
        byte_range = parse_range(wanted, size)
    except RangeNotSatisfiable:
        return Response(
            status_code=416,
            headers={"Content-Range": f"bytes */{size}", "Cache-Control": "no-store",
                     "Accept-Ranges": "bytes"},
        )  # fmt: skip
    status = 200
    start, end = 0, size - 1
    if byte_range is not None:
        start, end = byte_range
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1 if size else 0)
    content_type = media_type(path)
    if method == "HEAD" or size == 0:
        return Response(status_code=status, headers=headers, media_type=content_type)
    return StreamingResponse(
        store.open(key, start, end), status_code=status, headers=headers, media_type=content_type
    )
