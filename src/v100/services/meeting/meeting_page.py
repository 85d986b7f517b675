"""The meeting page: ``GET /meet/{meeting_id}`` serves one static HTML file for every meeting,
``GET /meet/assets/{name}`` its ES modules and styles (files of ``page/``, no build step). The
participant's credential is in the URL's fragment, which a browser never sends: these routes
see no token and need none (docs/meeting-page.md, ADR 0056). Strict headers: the page may load
and connect only to its own origin (media: blob:), and nothing on it runs inline."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from v100.kit.errors import NotFound

__all__ = ["PAGE_DIR", "PAGE_PREFIX", "page_router"]

PAGE_PREFIX = "/meet/"
PAGE_DIR = Path(__file__).parent / "page"
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\.(js|css)$")
_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        # 'self' covers the same origin's ws:/wss: (CSP Level 3).
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
_COMMON = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self)",
}

page_router = APIRouter(prefix="/meet", include_in_schema=False)


class PageAssetNotFound(NotFound):
    title = "No such page asset"


@page_router.get("/{meeting_id}")
async def meeting_page(meeting_id: str) -> Response:
    """The meeting page (the same file for every meeting: the script reads the id and the
    token from the URL)."""
    return FileResponse(
        PAGE_DIR / "index.html",
        media_type="text/html; charset=utf-8",
        headers={**_COMMON, "Cache-Control": "no-store"},
    )


@page_router.get("/assets/{name}")
async def page_asset(name: str) -> Response:
    """One of the page's modules or style sheets; revalidated on each load (ETag)."""
    match = _ASSET_NAME.match(name)
    path = PAGE_DIR / name
    if match is None or not path.is_file():
        raise PageAssetNotFound(f"The meeting page has no asset {name!r}.")
    return FileResponse(
        path, media_type=_TYPES[match.group(1)], headers={**_COMMON, "Cache-Control": "no-cache"}
    )
