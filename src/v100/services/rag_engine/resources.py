"""rag_engine's job resources (``v100.media.jobs``): its settings, the object store (documents'
sources until their job has read them), the bus and billing's client while embeddings or
answers cost credits. The app installs its own at start-up; a ``v100 worker rag_engine``
process opens them from the environment on first use."""

from __future__ import annotations

from v100.media.jobs import JobResources, ResourceSlot
from v100.services.rag_engine.settings import RagEngineSettings

__all__ = ["RESOURCES", "Resources"]

# rag_engine hands out no presigned links (no route serves them); a store opened by a worker
# still needs a base for its local-disk links.
_UNSERVED_LINKS = "/v1/documents/links"

Resources = JobResources[RagEngineSettings]


def _billing_url(settings: RagEngineSettings) -> str | None:
    rates = (
        settings.credits_per_1k_tokens,
        settings.llm_credits_per_1k_input,
        settings.llm_credits_per_1k_output,
    )
    charged = settings.billing_enabled and any(rate > 0 for rate in rates)
    return settings.billing_url if charged else None


RESOURCES = ResourceSlot(
    RagEngineSettings, presigned_path=_UNSERVED_LINKS, billing_url=_billing_url
)
