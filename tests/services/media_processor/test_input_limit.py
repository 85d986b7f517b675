"""An input over ``max_input_bytes`` is refused while it streams in (413
``media-input-too-large``) and nothing of it is kept. An app with settings of its own, so a
module of its own: the job resources an app installs are the process's (``RESOURCES``), and a
second app beside the module-shared one (test_bad_inputs.py) would take them from it."""

from __future__ import annotations

from collections.abc import AsyncIterator

from v100.kit.testing.http import running_app
from v100.services.media_processor.app import create_app
from v100.services.media_processor.settings import MediaProcessorSettings

from .support import MediaApp, new_tenant


async def test_input_over_the_limit_is_refused_while_streaming(
    mp_settings: MediaProcessorSettings, small_video: bytes
) -> None:
    settings = mp_settings.model_copy(update={"max_input_bytes": 1000})
    app = create_app(settings)
    async with running_app(app) as http:
        small = MediaApp(app=app, http=http, settings=settings, billing=settings.billing_url)
        tenant = new_tenant()

        async def body() -> AsyncIterator[bytes]:
            for start in range(0, len(small_video), 500):
                yield small_video[start : start + 500]

        answer = await http.put(
            "/v1/media/inputs/big.mp4", content=body(), headers=small.headers(tenant)
        )
        assert answer.status_code == 413
        assert answer.json()["type"] == "/problems/media-input-too-large"
        gone = await http.get("/v1/media/inputs/big.mp4", headers=small.headers(tenant))
        assert gone.status_code == 404
        leftovers = [o async for o in app.state.runtime.storage.list(f"media/{tenant}/")]
        assert leftovers == []
