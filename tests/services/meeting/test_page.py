"""The meeting page's routes: the HTML for any meeting id and its assets, with strict headers
(a CSP of its own origin only, no inline script, nosniff, no-store for the HTML), no credential
asked for; an unknown or ill-named asset is a problem+json 404. Every module the page imports,
and every file its HTML names, is served (the page has no build step to catch a missing one)."""

from __future__ import annotations

import re
from pathlib import Path

from v100.kit.settings import PlatformSettings
from v100.kit.testing.http import running_app
from v100.services.meeting.app import create_app
from v100.services.meeting.meeting_page import PAGE_DIR
from v100.services.meeting.settings import MeetingSettings

from .support import INTERNAL_SECRET


async def test_the_page_and_its_assets_are_served_with_strict_headers(tmp_path: Path) -> None:
    platform = PlatformSettings(var_dir=tmp_path, internal_token_secret=INTERNAL_SECRET)
    settings = MeetingSettings(
        platform=platform, database_url=f"sqlite+aiosqlite:///{tmp_path}/meeting.db"
    )
    async with running_app(create_app(settings)) as http:
        page = await http.get("/meet/01a252c0-8166-72fe-9e16-5b7d9d68b39e")
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-content-type-options"] == "nosniff"
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "media-src 'self' blob:" in policy
        # No inline script: every <script> names its file.
        assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page.text))

        named = set(re.findall(r'(?:src|href)="/meet/assets/([^"]+)"', page.text))
        imported: set[str] = set()
        for module in PAGE_DIR.glob("*.js"):
            imported |= set(re.findall(r'from "\./([^"]+)"', module.read_text()))
        assert {"meeting.js", "ui.css", "signaling.js", "realtime.js", "mesh.js"} <= (
            named | imported
        )
        for name in sorted(named | imported):
            asset = await http.get(f"/meet/assets/{name}")
            assert asset.status_code == 200, name
            assert asset.headers["x-content-type-options"] == "nosniff"
            kind = "text/javascript" if name.endswith(".js") else "text/css"
            assert asset.headers["content-type"].startswith(kind), name

        for bad in ("nope.js", "index.html", "..%2Fapp.py", "app.py", "Meeting.JS"):
            missing = await http.get(f"/meet/assets/{bad}")
            assert missing.status_code == 404, bad
            assert missing.headers["content-type"].startswith("application/problem+json")
