"""video_analysis's job resources (``v100.media.jobs``): its settings, the object store (the
fetched renditions and the keyframe images), the bus and billing's client while analyses cost
credits. The app installs its own at start-up; a ``v100 worker video_analysis`` process opens
them from the environment on first use."""

from __future__ import annotations

from v100.media.jobs import JobResources, ResourceSlot
from v100.services.video_analysis.settings import VideoAnalysisSettings

__all__ = ["FILES_PATH", "RESOURCES", "Resources"]

# Local-disk presigned links (keyframe images) resolve here; S3 signs its own.
FILES_PATH = "/v1/analyses/files"

Resources = JobResources[VideoAnalysisSettings]


def _billing_url(settings: VideoAnalysisSettings) -> str | None:
    charged = settings.billing_enabled and settings.credits_per_minute > 0
    return settings.billing_url if charged else None


RESOURCES = ResourceSlot(VideoAnalysisSettings, presigned_path=FILES_PATH, billing_url=_billing_url)
