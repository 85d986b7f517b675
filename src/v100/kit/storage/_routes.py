"""HTTP side of the local backend's presigned links: GET/HEAD (with a single byte Range, 206)
and PUT on ``<path>/{token}``, so a browser can fetch or upload one object with no API key,
as it would against S3. Cross-origin use needs the app's CORS middleware to allow the origin."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from email.utils import formatdate

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from v100.kit.errors import PROBLEM_CONTENT_TYPE, PayloadTooLarge, ProblemError
from v100.kit.storage._base import content_disposition
from v100.kit.storage._errors import InvalidPresignedUrl, RangeNotSatisfiable
from v100.kit.storage._local import LocalDiskStore, LocalObjectReader
from v100.kit.storage._presign import PresignedGrant

__all__ = ["MAX_PRESIGNED_PUT_BYTES", "parse_range", "presigned_routes"]

# S3 refuses a single PUT over 5 GiB; larger uploads go through multipart.
MAX_PRESIGNED_PUT_BYTES = 5 * 1024**3


def presigned_routes(
    store: LocalDiskStore, path: str = "/_objects", *, max_put_bytes: int = MAX_PRESIGNED_PUT_BYTES
) -> list[Route]:
    """Routes serving ``store``'s presigned links; mount them where its ``presign_base_url``
    points (the default base ``/_objects`` matches the default ``path`` here)."""

    async def presigned_object(request: Request) -> Response:
        try:
            grant = store.verify_presigned(request.path_params["token"], request.method)
            if request.method == "PUT":
                return await _put(store, request, grant, max_put_bytes)
            return await _get(store, request, grant)
        except ProblemError as exc:
            return Response(
                orjson.dumps(exc.to_problem(str(request.url.path))),
                status_code=exc.status,
                media_type=PROBLEM_CONTENT_TYPE,
                headers=exc.headers,
            )

    return [Route(f"{path.rstrip('/')}/{{token}}", presigned_object, methods=["GET", "PUT"])]


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a ``Range`` header asks of a ``size``-byte object; None to send
    the whole object (no header, another unit, several ranges, or a malformed one: RFC 9110
    lets a server ignore those). ``RangeNotSatisfiable`` when it starts past the end."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or last.isdigit()):
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable()
        return max(0, size - suffix), size - 1
    if last and not last.isdigit():
        return None
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable()
    end = min(int(last), size - 1) if last else size - 1
    return start, end


def _header_safe(value: str | None) -> str:
    if not value:
        return "application/octet-stream"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return "application/octet-stream"
    return value


async def _get(store: LocalDiskStore, request: Request, grant: PresignedGrant) -> Response:
    reader = await store.open_reader(grant.key)
    info = reader.info
    etag = f'"{info.etag}"'
    last_modified = formatdate(info.last_modified.timestamp(), usegmt=True)
    headers = {
        "accept-ranges": "bytes",
        "etag": etag,
        "last-modified": last_modified,
        "content-type": _header_safe(info.content_type),
        "cache-control": f"private, max-age={max(0, grant.expires_at - int(time.time()))}",
        # Uploaded bytes are served from our own origin: never let them run as a page there.
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; sandbox",
    }
    if grant.filename:
        headers["content-disposition"] = content_disposition(grant.filename)
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and etag in {tag.strip() for tag in if_none_match.split(",")}:
        reader.close()
        return Response(status_code=304, headers={k: headers[k] for k in ("etag", "cache-control")})
    if_range = request.headers.get("if-range")
    try:
        wanted = (
            parse_range(request.headers.get("range"), info.size)
            if if_range is None or if_range in (etag, last_modified)
            else None
        )
    except RangeNotSatisfiable:
        reader.close()
        return Response(status_code=416, headers={"content-range": f"bytes */{info.size}"})
    status = 200
    start, end = 0, info.size - 1
    if wanted is not None:
        status, (start, end) = 206, wanted
        headers["content-range"] = f"bytes {start}-{end}/{info.size}"
    headers["content-length"] = str(end - start + 1)
    if request.method == "HEAD" or end < start:
        reader.close()
        return Response(status_code=status, headers=headers)
    return StreamingResponse(_stream(reader, start, end), status_code=status, headers=headers)


async def _stream(reader: LocalObjectReader, start: int, end: int) -> AsyncIterator[bytes]:
    try:
        async for chunk in reader.iter_bytes(start, end):
            yield chunk
    finally:
        reader.close()


async def _limited(body: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    received = 0
    async for chunk in body:
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"a presigned upload takes at most {limit} bytes")
        yield chunk


async def _put(
    store: LocalDiskStore, request: Request, grant: PresignedGrant, limit: int
) -> Response:
    sent_type = request.headers.get("content-type")
    if grant.content_type is not None and sent_type != grant.content_type:
        raise InvalidPresignedUrl(f"this link requires Content-Type: {grant.content_type}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"a presigned upload takes at most {limit} bytes")
    stored = await store.put(grant.key, _limited(request.stream(), limit), sent_type)
    return Response(status_code=200, headers={"etag": f'"{stored.etag}"'})
