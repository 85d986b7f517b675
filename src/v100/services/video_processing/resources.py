"""video_processing's job resources (``v100.media.jobs``): its settings, the object store, the
bus and billing's client while processing or clips cost credits. The app installs its own at
start-up; a ``v100 worker video_processing`` process opens them from the environment on first
use."""

from __future__ import annotations

from v100.media.jobs import JobResources, ResourceSlot
from v100.services.video_processing.settings import VideoProcessingSettings

__all__ = ["FILES_PATH", "RESOURCES", "Resources"]

# Where the local-disk store's presigned download links are served (and the gateway lets through).
FILES_PATH = "/v1/videos/files"

Resources = JobResources[VideoProcessingSettings]


def _billing_url(settings: VideoProcessingSettings) -> str | None:
    charged = settings.billing_enabled and (
        settings.credits_per_minute > 0 or settings.clip_credits_per_minute > 0
    )
    return settings.billing_url if charged else None


RESOURCES = ResourceSlot(
    VideoProcessingSettings, presigned_path=FILES_PATH, billing_url=_billing_url
)
