"""Credits: a ready video is charged its minutes once (hold then capture); a hold billing
refuses ends the video ``errored`` before any encoding; with billing unreachable no work runs
uncharged: the job is retried, then the video ends ``errored`` (docs/video.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from v100.kit.testing.http import running_app
from v100.kit.testing.servers import dead_url
from v100.services.video_processing.app import create_app
from v100.services.video_processing.settings import VideoProcessingSettings

from .support import VideoApp, new_tenant


async def test_ready_video_is_charged_once(vp: VideoApp, small_video: Path) -> None:
    tenant = new_tenant()
    available, _ = await vp.balance(tenant)
    upload_id = await vp.tus_upload(tenant, small_video)
    video = await vp.wait(tenant, (await vp.video_of_upload(tenant, upload_id))["id"])
    assert video["status"] == "ready"
    assert video["credits_charged"] == 1  # 3 s: one started minute
    assert await vp.balance(tenant) == (available - 1, 0)


async def test_refused_hold_errors_the_video_before_encoding(
    vp_settings: VideoProcessingSettings, billing_url: str, small_video: Path
) -> None:
    settings = vp_settings.model_copy(update={"credits_per_minute": 5000})
    app = create_app(settings)
    async with running_app(app) as http:
        vp = VideoApp(app=app, http=http, settings=settings, billing=billing_url)
        tenant = new_tenant()
        upload_id = await vp.tus_upload(tenant, small_video)
        video = await vp.wait(tenant, (await vp.video_of_upload(tenant, upload_id))["id"])
        assert video["status"] == "errored"
        assert video["error"]["type"] == "insufficient-credits"
        assert video["renditions"] == []
        assert (await vp.balance(tenant))[1] == 0


@pytest.mark.slow
async def test_billing_unreachable_retries_then_errors_and_encodes_nothing(
    vp_settings: VideoProcessingSettings, small_video: Path
) -> None:
    settings = vp_settings.model_copy(update={"billing_url": dead_url()})
    app = create_app(settings)
    async with running_app(app) as http:
        vp = VideoApp(app=app, http=http, settings=settings, billing=None)
        tenant = new_tenant()
        upload_id = await vp.tus_upload(tenant, small_video)
        video = await vp.wait(tenant, (await vp.video_of_upload(tenant, upload_id))["id"], 90)
        assert video["status"] == "errored"
        assert video["error"]["type"] == "billing-unavailable"
        assert video["renditions"] == []
