"""What video_processing's jobs work with besides their database session: the settings, the
object store, the bus and billing's client. The app installs its own at start-up; a
``v100 worker video_processing`` process builds them from the environment on first use."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from v100.contracts.billing import BillingClient
from v100.kit.auth import InternalTokens
from v100.kit.bus import Bus, create_bus
from v100.kit.http import ServiceClient
from v100.kit.storage import ObjectStore, storage_from_settings
from v100.services.video_processing.settings import VideoProcessingSettings

__all__ = ["FILES_PATH", "Resources", "current", "install", "open_resources", "uninstall"]

# Where the local-disk store's presigned download links are served (and the gateway lets through).
FILES_PATH = "/v1/videos/files"


@dataclass
class Resources:
    settings: VideoProcessingSettings
    storage: ObjectStore
    bus: Bus
    billing: BillingClient | None
    owned: bool = False
    _billing_http: ServiceClient | None = None

    async def close(self) -> None:
        if self._billing_http is not None:
            await self._billing_http.aclose()
        if self.owned:
            await self.storage.close()
            await self.bus.close()


_installed: Resources | None = None
_lock = asyncio.Lock()


def billing_client(
    settings: VideoProcessingSettings,
) -> tuple[BillingClient | None, ServiceClient | None]:
    if not settings.billing_enabled or (
        settings.credits_per_minute == 0 and settings.clip_credits_per_minute == 0
    ):
        return None, None
    platform = settings.platform
    tokens = InternalTokens(
        platform.resolved_internal_token_secret, platform.internal_token_ttl_seconds
    )
    http = ServiceClient(settings.billing_url, tokens, timeout=15.0)
    return BillingClient(http), http


def install(settings: VideoProcessingSettings, storage: ObjectStore, bus: Bus) -> Resources:
    """Called by the app's start-up: jobs run in this process use the app's own backends."""
    global _installed
    billing, http = billing_client(settings)
    _installed = Resources(settings, storage, bus, billing, _billing_http=http)
    return _installed


async def uninstall(resources: Resources) -> None:
    global _installed
    if _installed is resources:
        _installed = None
    await resources.close()


async def open_resources(settings: VideoProcessingSettings | None = None) -> Resources:
    settings = settings or VideoProcessingSettings()
    storage = storage_from_settings(settings.platform, presign_base_url=FILES_PATH)
    await storage.ensure_bucket()
    billing, http = billing_client(settings)
    bus = create_bus(settings.platform.redis_url)
    return Resources(settings, storage, bus, billing, owned=True, _billing_http=http)


async def current() -> Resources:
    """The installed resources, or (a worker process) ones built from the environment."""
    global _installed
    if _installed is not None:
        return _installed
    async with _lock:
        if _installed is None:
            _installed = await open_resources()
        return _installed
