"""Where a processed video's HLS lies, as video_processing says (``contracts.videos``: the
platform scope ``service:videos``, the tenant the token's), remembered by this process for
``video_check_seconds`` so segments are served from the store without a call per request, and a
deleted video stops playing within that time. Concurrent misses for one video share one call."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from v100.contracts.videos import VideoHls, VideoMissing, VideosClient, VideosError
from v100.kit.errors import UpstreamUnavailable

__all__ = ["VideoDirectory"]

# Entries kept at most; past it the oldest go (a process serving many videos at once).
_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    hls: VideoHls | None  # None: video_processing said there is no such video
    until: float


class VideoDirectory:
    def __init__(self, videos: VideosClient, ttl: float) -> None:
        self.videos = videos
        self.ttl = ttl
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._pending: dict[tuple[str, str], asyncio.Task[VideoHls | None]] = {}

    async def aclose(self) -> None:
        for task in self._pending.values():
            task.cancel()
        await self.videos.aclose()

    async def describe(self, tenant_id: str, video_id: str) -> VideoHls:
        """Asked now, never remembered: for minting a URL. Raises the contract's refusals."""
        try:
            hls = await self.videos.hls(tenant_id, video_id)
        except VideosError as exc:
            if isinstance(exc, VideoMissing) or exc.status == 409:
                raise
            raise _unavailable(exc) from None
        self._remember((tenant_id, video_id), hls)
        return hls

    async def playable(self, tenant_id: str, video_id: str) -> VideoHls | None:
        """The video's HLS, or None when it is gone or no longer playable; remembered."""
        key = (tenant_id, video_id)
        entry = self._entries.get(key)
        if entry is not None and entry.until > time.monotonic():
            return entry.hls
        task = self._pending.get(key)
        if task is None:
            task = asyncio.create_task(self._ask(key))
            self._pending[key] = task
            task.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(task)

    async def _ask(self, key: tuple[str, str]) -> VideoHls | None:
        try:
            hls: VideoHls | None = await self.videos.hls(*key)
        except VideoMissing:
            hls = None
        except VideosError as exc:
            if exc.status != 409:
                raise _unavailable(exc) from None
            hls = None  # not ready, or audio only: nothing to play
        self._remember(key, hls)
        return hls

    def _remember(self, key: tuple[str, str], hls: VideoHls | None) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= _MAX_ENTRIES:
            for old in list(self._entries)[: _MAX_ENTRIES // 10]:
                del self._entries[old]
        self._entries[key] = _Entry(hls, time.monotonic() + self.ttl)


def _unavailable(exc: VideosError) -> UpstreamUnavailable:
    """video_processing answered something no refusal explains (a 5xx): a passing fault."""
    return UpstreamUnavailable(f"video_processing answered {exc.status}.", retry_after=1)
