"""Credits refused or out of reach, each on an app with settings of its own (a module of its
own: the job resources an app installs are the process's, and a second app beside the
module-shared one would take them from it): a hold billing refuses ends the video ``errored``
before any encoding, and a clip ``errored`` at once (``insufficient-credits``), never a stuck
job; with billing unreachable no work runs uncharged: the job is retried, then the video ends
``errored`` (docs/video.md). A ready video charged once: test_pipeline.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from v100.kit.testing.http import running_app
from v100.kit.testing.servers import dead_url
from v100.services.video_processing.app import create_app
from v100.services.video_processing.settings import VideoProcessingSettings

from .support import VideoApp, clip_job, new_tenant, post_clip, ready_video


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


async def test_insufficient_credits_end_the_clip_errored_at_once(
    vp_settings: VideoProcessingSettings, billing_url: str, small_video: Path
) -> None:
    settings = vp_settings.model_copy(update={"clip_credits_per_minute": 5000})
    app = create_app(settings)
    async with running_app(app) as http:
        vp = VideoApp(app=app, http=http, settings=settings, billing=billing_url)
        tenant = new_tenant()
        video = await ready_video(vp, tenant, small_video)
        before = await vp.balance(tenant)
        clip = await vp.wait_clip(tenant, (await post_clip(vp, tenant, video["id"]))["id"])
        assert clip["status"] == "errored"
        assert clip["error"]["type"] == "insufficient-credits"
        assert "5000" in clip["error"]["detail"]
        assert clip["download_url"] is None
        record = await clip_job(vp, clip["id"])
        assert record is not None
        assert (record.status, record.attempts) == ("failed", 1)  # not retried, not stuck
        assert await vp.balance(tenant) == before
        assert [o async for o in app.state.runtime.storage.list("clips/")] == []
