"""What a media service's jobs work with besides their database session: the service's settings,
the object store (inputs fetched into a scratch directory, outputs stored from one), the bus,
and billing's client when its work costs credits. The app installs its own at start-up (the
same store and bus as its requests); a ``v100 worker <service>`` process opens them from the
environment on first use, once.

    # resources.py: one slot per service
    RESOURCES = ResourceSlot(
        MediaProcessorSettings, presigned_path="/v1/media/files", billing_url=_billing_url
    )
    # app.py
    ServiceSpec(settings, ..., components=[RESOURCES.installed(settings), running_jobs(...)])
    # tasks.py
    resources = await RESOURCES.current()

A job's body runs inside ``failing_as`` (the one retry policy of media jobs): a media failure
ends its resource failed when it is permanent or on the last attempt, the service's own
``WorkFailed`` at once, anything else on the last attempt; until then the job is retried.

Not imported by ``v100.media`` itself: the FFmpeg library stays free of storage, bus and billing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from v100.contracts.billing import BillingClient, connect_billing
from v100.kit.bus import Bus, create_bus
from v100.kit.http import Runtime
from v100.kit.jobs import JobContext, PermanentJobError
from v100.kit.settings import ServiceSettings
from v100.kit.storage import ObjectStore, StoredObject, storage_from_settings
from v100.media._errors import MediaError, MediaErrorCodes, is_permanent

__all__ = ["JobResources", "ResourceSlot", "WorkFailed", "download", "failing_as", "upload"]

S = TypeVar("S", bound=ServiceSettings)
_CHUNK = 1024 * 1024


@dataclass
class JobResources(Generic[S]):
    settings: S
    storage: ObjectStore
    bus: Bus
    # None: nothing the jobs do is charged (billing off, or free).
    billing: BillingClient | None = None
    # Opened here (a worker process), so closed here; the app closes its own store and bus.
    owned: bool = field(default=False, kw_only=True)

    async def close(self) -> None:
        if self.billing is not None:
            await self.billing.aclose()
        if self.owned:
            await self.storage.close()
            await self.bus.close()


class ResourceSlot(Generic[S]):
    """Where a process keeps one service's job resources: the app's, installed at start-up, or
    ones opened from the environment the first time a job asks (a worker process)."""

    def __init__(
        self,
        settings_type: type[S],
        *,
        presigned_path: str,
        billing_url: Callable[[S], str | None] | None = None,
    ) -> None:
        self._settings_type = settings_type
        # Where the local-disk store's presigned download links are served (S3 signs its own).
        self._presigned_path = presigned_path
        # billing's URL when the service's work costs credits under these settings, else None.
        self._billing_url = billing_url
        self._installed: JobResources[S] | None = None
        self._lock = asyncio.Lock()

    def install(self, settings: S, storage: ObjectStore, bus: Bus) -> JobResources[S]:
        """The app's start-up: jobs run in this process use the app's own backends."""
        self._installed = JobResources(settings, storage, bus, self._billing(settings))
        return self._installed

    async def uninstall(self, resources: JobResources[S]) -> None:
        if self._installed is resources:
            self._installed = None
        await resources.close()

    def installed(
        self, settings: S
    ) -> Callable[[Runtime], contextlib.AbstractAsyncContextManager[None]]:
        """The app's component (``ServiceSpec.components``): its jobs use the runtime's store
        and bus while the app runs."""

        @contextlib.asynccontextmanager
        async def component(runtime: Runtime) -> AsyncIterator[None]:
            assert runtime.storage is not None, "a media service uses storage"
            resources = self.install(settings, runtime.storage, runtime.bus)
            try:
                yield
            finally:
                await self.uninstall(resources)

        return component

    async def open(self, settings: S | None = None) -> JobResources[S]:
        """Resources of their own, from the environment (closed by ``close``)."""
        settings = settings or self._settings_type()
        storage = storage_from_settings(settings.platform, presign_base_url=self._presigned_path)
        await storage.ensure_bucket()
        bus = create_bus(settings.platform.redis_url)
        return JobResources(settings, storage, bus, self._billing(settings), owned=True)

    async def current(self) -> JobResources[S]:
        """The installed resources, or (a worker process) ones opened from the environment."""
        if self._installed is not None:
            return self._installed
        async with self._lock:
            if self._installed is None:
                self._installed = await self.open()
            return self._installed

    def _billing(self, settings: S) -> BillingClient | None:
        url = None if self._billing_url is None else self._billing_url(settings)
        return None if url is None else connect_billing(url, settings.platform)


class WorkFailed(Exception):
    """Ends a job's resource failed with ``slug`` and ``detail``, never retried; each service
    names its own (``TranscriptFailed``, ``AnalysisFailed``, ...)."""

    def __init__(self, slug: str, detail: str) -> None:
        super().__init__(f"{slug}: {detail}")
        self.slug = slug
        self.detail = detail


@contextlib.asynccontextmanager
async def failing_as(
    job: JobContext,
    fail: Callable[[str, str], Awaitable[None]],
    codes: MediaErrorCodes,
    *,
    gave_up: tuple[str, str],
) -> AsyncIterator[None]:
    """Run a job's work; when it cannot succeed, ``fail(slug, detail)`` settles its resource
    and the job ends (``PermanentJobError``). A media error does so when it is permanent or
    this is the last attempt, with the slug ``codes`` gives it; a ``WorkFailed`` at once;
    anything else on the last attempt as ``gave_up`` (its slug, and what the detail starts
    with: "Transcription failed"). Otherwise the error is raised again and the job retried."""
    try:
        yield
    except MediaError as exc:
        slug = codes.code(exc)
        if not (is_permanent(exc) or job.is_last_attempt):
            raise
        await fail(slug, exc.reason)
        raise PermanentJobError(f"{slug}: {exc.reason}") from exc
    except WorkFailed as exc:
        await fail(exc.slug, exc.detail)
        raise PermanentJobError(str(exc)) from exc
    except Exception as exc:
        if job.is_last_attempt:
            slug, words = gave_up
            await fail(slug, f"{words} after {job.attempt} attempts ({type(exc).__name__}).")
        raise


async def download(
    storage: ObjectStore,
    key: str,
    path: Path,
    on_fraction: Callable[[float], Awaitable[None]] | None = None,
) -> None:
    """Fetch an object into a (scratch) file, written off the event loop; ``on_fraction`` is
    told how much of it has arrived."""
    size = (await storage.head(key)).size if on_fraction is not None else 0
    written = 0
    with path.open("wb") as file:
        async for chunk in storage.open(key):
            await asyncio.to_thread(file.write, chunk)
            written += len(chunk)
            if on_fraction is not None and size:
                await on_fraction(written / size)


async def upload(storage: ObjectStore, path: Path, key: str, content_type: str) -> StoredObject:
    """Store a (scratch) file under ``key``, read off the event loop."""
    return await storage.put(key, _chunks(path), content_type)


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := await asyncio.to_thread(file.read, _CHUNK):
            yield chunk
