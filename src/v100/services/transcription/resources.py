"""transcription's job resources (``v100.media.jobs``): its settings, the object store (uploads
and fetched sources), the bus and billing's client while transcripts cost credits. The app
installs its own at start-up; a ``v100 worker transcription`` process opens them from the
environment on first use."""

from __future__ import annotations

from v100.media.jobs import JobResources, ResourceSlot
from v100.services.transcription.settings import TranscriptionSettings

__all__ = ["RESOURCES", "Resources"]

# transcription hands out no presigned links (no route serves them); a store opened by a worker
# still needs a base for its local-disk links.
_UNSERVED_LINKS = "/v1/transcripts/links"

Resources = JobResources[TranscriptionSettings]


def _billing_url(settings: TranscriptionSettings) -> str | None:
    charged = settings.billing_enabled and settings.credits_per_minute > 0
    return settings.billing_url if charged else None


RESOURCES = ResourceSlot(
    TranscriptionSettings, presigned_path=_UNSERVED_LINKS, billing_url=_billing_url
)
