"""HTTP message rules every server of the platform applies before any route sees a request
(RFC 9112): only HTTP/1.0 and 1.1 (505 otherwise), exactly one Host on HTTP/1.1 (section 3.2),
no Transfer-Encoding on HTTP/1.0 (section 6.1: it cannot frame a body there), and bounded header
fields (431 past ``max_header_count`` fields, a ``max_header_bytes`` field line, or
``max_headers_total`` bytes in all). Each refusal is problem+json and closes the connection."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from v100.kit.errors import BadRequest, HeadersTooLarge, HttpVersionUnsupported, ProblemError
from v100.kit.http._problems import problem_response

__all__ = ["HttpRulesMiddleware"]

MAX_HEADER_COUNT = 100
MAX_HEADER_BYTES = 8 * 1024
MAX_HEADERS_TOTAL = 32 * 1024


class _Malformed(BadRequest):
    closes_connection = True


def broken_rule(scope: Scope) -> ProblemError | None:
    """The first rule ``scope``'s request breaks, or None."""
    version = scope.get("http_version", "1.1")
    if version not in ("1.0", "1.1"):
        return HttpVersionUnsupported(f"HTTP/{version} is not served here; use HTTP/1.1.")
    headers = scope["headers"]
    if len(headers) > MAX_HEADER_COUNT:
        return HeadersTooLarge(f"At most {MAX_HEADER_COUNT} header fields.")
    hosts = total = 0
    for name, value in headers:
        size = len(name) + len(value) + 4  # ": " and CRLF
        if size > MAX_HEADER_BYTES:
            return HeadersTooLarge(f"A header field line is at most {MAX_HEADER_BYTES} bytes.")
        total += size
        if name == b"host":
            hosts += 1
        elif name == b"transfer-encoding" and version == "1.0":
            return _Malformed("Transfer-Encoding cannot frame an HTTP/1.0 request.")
    if total > MAX_HEADERS_TOTAL:
        return HeadersTooLarge(f"The header fields are at most {MAX_HEADERS_TOTAL} bytes in all.")
    if hosts > 1 or (hosts == 0 and version == "1.1"):
        return _Malformed("An HTTP/1.1 request carries exactly one Host header.")
    return None


class HttpRulesMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            broken = broken_rule(scope)
            if broken is not None:
                await problem_response(broken, scope.get("path"))(scope, receive, send)
                return
        await self.app(scope, receive, send)
