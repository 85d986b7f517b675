"""What the processing job makes and where it goes: object keys under ``videos/<id>/``, content
types, the HLS ladder as renditions, and rendition rows
(written only after their objects are stored, so a retry can trust them and skip the work)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from v100 import media
from v100.kit.jobs import JobContext, PermanentJobError
from v100.media.jobs import upload
from v100.services.video_processing import lifecycle
from v100.services.video_processing.models import Rendition, RenditionKind, VideoStatus
from v100.services.video_processing.repository import RenditionRepository, VideoRepository
from v100.services.video_processing.resources import Resources

__all__ = [
    "VideoJob",
    "content_type",
    "file_size",
    "make_hls",
    "record",
    "store",
    "video_key",
]


_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}


def video_key(video_id: str, name: str) -> str:
    return f"videos/{video_id}/{name}"


def content_type(name: str) -> str:
    return _CONTENT_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


@dataclass
class VideoJob:
    """What the job knows of its video, read once at its start."""

    id: str
    tenant_id: str
    source_key: str
    normalize_audio: bool
    auto_trim: bool
    max_resolution: int | None
    hold_id: str | None
    created_at: datetime
    done: set[str]


async def make_hls(
    job: JobContext,
    resources: Resources,
    video: VideoJob,
    source: Path,
    info: media.MediaInfo,
    out_dir: Path,
    on_progress: media.ProgressCallback,
) -> None:
    """The ladder in one FFmpeg run (the source decoded once), stored with its playlists."""
    ladder = media.plan_ladder(info)
    if video.max_resolution is not None:
        cap = video.max_resolution
        ladder = [r for r in ladder if min(r.width, r.height) <= cap] or ladder[-1:]
    output = await media.encode_hls(
        source,
        out_dir,
        info,
        ladder,
        segment_seconds=resources.settings.hls_segment_seconds,
        on_progress=on_progress,
    )
    size = 0
    for path in output.files:
        relative = path.relative_to(out_dir)
        key = video_key(video.id, f"hls/{relative}")
        await upload(resources.storage, path, key, content_type(path.name))
        size += await asyncio.to_thread(file_size, path)
    renditions = []
    for variant in output.variants:
        rung = variant.rung
        renditions.append(
            Rendition(
                tenant_id=video.tenant_id,
                video_id=video.id,
                kind=RenditionKind.HLS,
                name=variant.name,
                key=video_key(video.id, f"hls/{variant.playlist.relative_to(out_dir)}"),
                content_type=_CONTENT_TYPES[".m3u8"],
                width=rung.width if rung else None,
                height=rung.height if rung else None,
                bitrate=variant.average_bitrate,
                duration=round(variant.duration, 3),
                extra={"peak_bitrate": variant.peak_bitrate, "segments": len(variant.segments)},
            )
        )
    renditions.append(
        Rendition(
            tenant_id=video.tenant_id,
            video_id=video.id,
            kind=RenditionKind.HLS,
            name="master",
            key=video_key(video.id, f"hls/{output.master_playlist.relative_to(out_dir)}"),
            content_type=_CONTENT_TYPES[".m3u8"],
            size=size,
            duration=round(info.duration, 3),
            extra={
                "rungs": [v.name for v in output.variants],
                "audio": output.audio is not None,
                "segment_seconds": output.segment_seconds,
            },
        )
    )
    await record(job, resources, video, renditions)


async def store(
    job: JobContext,
    resources: Resources,
    video: VideoJob,
    kind: RenditionKind,
    name: str,
    path: Path,
    relative_key: str,
    info: media.MediaInfo | None = None,
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    key = video_key(video.id, relative_key)
    await upload(resources.storage, path, key, content_type(path.name))
    rendition = Rendition(
        tenant_id=video.tenant_id,
        video_id=video.id,
        kind=kind,
        name=name,
        key=key,
        content_type=content_type(path.name),
        size=await asyncio.to_thread(file_size, path),
        width=info.video.display_width if info and info.video else None,
        height=info.video.display_height if info and info.video else None,
        bitrate=info.bit_rate if info else None,
        duration=round(info.duration, 3) if info else None,
        extra=extra or {},
    )
    await record(job, resources, video, [rendition])


async def record(
    job: JobContext, resources: Resources, snapshot: VideoJob, renditions: list[Rendition]
) -> None:
    """Rendition rows (and their events) once their objects are stored."""
    async with job.unit_of_work() as session:
        video = await VideoRepository(session).locked(snapshot.id)
        if video is None or video.status != VideoStatus.PROCESSING:
            raise PermanentJobError("the video was deleted or settled meanwhile")
        repository = RenditionRepository(session)
        for rendition in renditions:
            stored = await repository.replace(rendition)
            await session.refresh(video, ["renditions"])
            lifecycle.announce_rendition(session, resources.bus, video, stored)
            snapshot.done.add(rendition.name)


def file_size(path: Path) -> int:
    return path.stat().st_size
