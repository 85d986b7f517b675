"""transcription's job resources (``v100.media.jobs``): its settings, the object store (uploads
and fetched sources), the bus and billing's client while transcripts cost credits. The app
installs its own at start-up; a ``v100 worker transcription`` process opens them from the
environment on first use."""

from __future__ import annotations

from v100.media.jobs import JobResources, ResourceSlot
from v100.services.transcription.settings import TranscriptionSettings

__all__ = ["FILES_PATH", "RESOURCES", "Resources"]

# Where the local-disk store's presigned links would be served (transcription hands none out).
FILES_PATH = "/v1/transcripts/files"

Resources = JobResources[TranscriptionSettings]


def _billing_url(settings: TranscriptionSettings) -> str | None:
    charged = settings.billing_enabled and settings.credits_per_minute > 0
    return settings.billing_url if charged else None


RESOURCES = ResourceSlot(TranscriptionSettings, presigned_path=FILES_PATH, billing_url=_billing_url)
