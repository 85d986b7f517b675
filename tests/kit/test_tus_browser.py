"""tus-js-client in headless Chromium against kit.tus on a real uvicorn: a File made in the page
uploads, the connection breaks mid-PATCH, the page is reloaded, and the new page resumes the
same upload (tus-js-client's fingerprint in localStorage) to a byte-identical object.

Needs Debian's chromium and tus-js-client from npm: ``bash scripts/tools/browser.sh install``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from v100.kit.db import create_sessionmaker
from v100.kit.storage import ObjectStore
from v100.kit.testing.db import migrated_engine
from v100.kit.testing.servers import serving

from .tus_sample import (
    MIGRATIONS,
    SERVICE,
    TUS_HEADERS,
    BudgetProxy,
    MiB,
    completed,
    make_app,
    make_server,
    metadata,
    read_object,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize(
        ("database_url", "storage_backend"),
        [("sqlite", "local"), ("postgres", "s3")],
        indirect=True,
    ),
]

CHROMIUM = os.environ.get("V100_TEST_CHROMIUM", "/usr/bin/chromium")
NODE_MODULES = Path(
    os.environ.get(
        "V100_TEST_NODE_MODULES",
        Path(__file__).resolve().parents[2] / ".cache" / "tools" / "node" / "node_modules",
    )
)
TUS_JS = NODE_MODULES / "tus-js-client" / "dist" / "tus.min.js"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

PAGE = """<!doctype html>
<meta charset="utf-8">
<script src="/tus.js"></script>
<script>
window.state = {sent: 0, url: null, error: null, done: false, resumed: null};
window.startUpload = async function (retry) {
  const bytes = await (await fetch("/payload.bin")).arrayBuffer();
  // The same name, type, size and date on every page load: the same fingerprint.
  const file = new File([bytes], "clip.bin", {type: "video/mp4", lastModified: 1700000000000});
  const upload = new tus.Upload(file, {
    endpoint: "/v1/uploads",
    headers: {"X-Tenant": "tenant-a"},
    metadata: {filename: file.name, filetype: file.type},
    retryDelays: retry ? [0, 300, 1000] : null,
    onUploadUrlAvailable: () => { window.state.url = upload.url; },
    onProgress: (sent) => { window.state.sent = sent; },
    onError: (error) => { window.state.error = String(error); },
    onSuccess: () => { window.state.url = upload.url; window.state.done = true; },
  });
  const previous = await upload.findPreviousUploads();
  window.state.resumed = previous.length > 0;
  if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
  upload.start();
};
</script>
"""


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated_engine(SERVICE, database_url, MIGRATIONS, metadata) as engine:
        yield create_sessionmaker(engine)


def browser_tools_or_skip() -> None:
    missing = [str(path) for path in (Path(CHROMIUM), TUS_JS) if not path.exists()]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: run `bash scripts/tools/browser.sh install`")


async def test_tus_js_client_resumes_after_a_break_and_a_page_reload(
    sessions: async_sessionmaker[AsyncSession], storage: ObjectStore
) -> None:
    browser_tools_or_skip()
    from playwright.async_api import async_playwright

    payload = os.urandom(12 * MiB + 77)

    async def page(_: Request) -> Response:
        return HTMLResponse(PAGE)

    async def script(_: Request) -> Response:
        return FileResponse(TUS_JS, media_type="text/javascript")

    async def body(_: Request) -> Response:
        return Response(payload, media_type="application/octet-stream")

    server = make_server(sessions, storage, lease=timedelta(seconds=5))
    extra = [Route("/", page), Route("/tus.js", script), Route("/payload.bin", body)]
    async with serving(make_app(server, extra), lifespan="off") as url:
        proxy = BudgetProxy(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        await proxy.open()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
            )
            try:
                tab = await browser.new_page()
                await tab.goto(f"{proxy.url}/")
                # One PATCH for the whole file (chunkSize unset); the network breaks 6 MiB in
                # and this page does not retry.
                proxy.budget = 6 * MiB
                await tab.evaluate("startUpload(false)")
                await tab.wait_for_function("window.state.error !== null", timeout=30_000)
                first_url = await tab.evaluate("window.state.url")
                assert first_url
                assert proxy.cuts == 1
                async with httpx.AsyncClient(trust_env=False) as client:
                    head = await client.head(
                        first_url, headers={"X-Tenant": "tenant-a", **TUS_HEADERS}
                    )
                durable = int(head.headers["upload-offset"])
                assert 5 * MiB <= durable < 6 * MiB

                await tab.reload()
                await tab.evaluate("startUpload(true)")
                await tab.wait_for_function("window.state.done === true", timeout=60_000)
                state = await tab.evaluate("window.state")
            finally:
                await browser.close()
        await proxy.close()
    assert state["resumed"] is True
    assert state["url"] == first_url  # the same upload, not a new one
    key, size = (await completed(sessions))[first_url.rsplit("/", 1)[1]]
    assert size == len(payload)
    stored = await read_object(storage, key)
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(payload).hexdigest()
