"""media_processor's job resources (``v100.media.jobs``): its settings, the object store, the
bus and billing's client while transcodes cost credits. The app installs its own at start-up;
a ``v100 worker media_processor`` process opens them from the environment on first use."""

from __future__ import annotations

from v100.media.jobs import JobResources, ResourceSlot
from v100.services.media_processor.settings import MediaProcessorSettings

__all__ = ["FILES_PATH", "RESOURCES", "Resources"]

# Where the local-disk store's presigned download links are served.
FILES_PATH = "/v1/media/files"

Resources = JobResources[MediaProcessorSettings]


def _billing_url(settings: MediaProcessorSettings) -> str | None:
    charged = settings.billing_enabled and settings.credits_per_minute > 0
    return settings.billing_url if charged else None


RESOURCES = ResourceSlot(
    MediaProcessorSettings, presigned_path=FILES_PATH, billing_url=_billing_url
)
