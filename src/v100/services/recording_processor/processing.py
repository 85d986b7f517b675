"""Processing one uploaded recording, as a job: fetch the source, probe it, transcode it to MP4
(H.264/AAC; an audio-only recording to an audio-only MP4, M4A), take the thumbnail at 5 s,
store both, and move the recording to ready. Progress (stage and percent) is stored on the
recording and published live; bad input ends as an errored recording, never a stuck one."""

from __future__ import annotations

import tempfile
import time
from functools import partial
from pathlib import Path

from v100 import media
from v100.kit.db import session_hooks, utcnow
from v100.kit.jobs import JobContext
from v100.kit.observability import get_logger
from v100.media.jobs import download, failing_as, upload
from v100.services.recording_processor.errors import MEDIA_ERRORS
from v100.services.recording_processor.lifecycle import mark_errored
from v100.services.recording_processor.models import Recording
from v100.services.recording_processor.progress import Announcer, snapshot
from v100.services.recording_processor.repository import RecordingRepository
from v100.services.recording_processor.resources import Resources

__all__ = ["process"]

_log = get_logger("v100.recording_processor.processing")

# Where each stage starts in the recording's overall percent.
_STAGE_START = {"probing": 0, "transcoding": 5, "thumbnail": 90, "storing": 95}
_TRANSCODE_SPAN = _STAGE_START["thumbnail"] - _STAGE_START["transcoding"]
# Stored progress is written at most this often (each percent step is published live).
_STORE_EVERY = 1.0


class _Tracker:
    """Moves the recording through its stages and publishes each percent step."""

    def __init__(self, job: JobContext, announcer: Announcer, recording: Recording) -> None:
        self.job = job
        self.announcer = announcer
        self.recording = recording
        self.stage = recording.stage
        self.percent = recording.percent
        self._stored_at = 0.0

    async def enter(self, stage: str) -> None:
        self.stage, self.percent = stage, _STAGE_START[stage]
        await self._store()
        state = snapshot(self.recording).model_copy(
            update={"stage": stage, "percent": self.percent}
        )
        await self.announcer.changed(self.recording.tenant_id, state)
        await self.job.report_progress(self.percent)

    async def transcoding(self, progress: media.Progress) -> None:
        if progress.percent is None:
            return
        percent = _STAGE_START["transcoding"] + int(progress.percent * _TRANSCODE_SPAN / 100)
        if percent <= self.percent:
            return
        self.percent = percent
        state = snapshot(self.recording).model_copy(
            update={"stage": self.stage, "percent": percent}
        )
        await self.announcer.progress(self.recording.tenant_id, state)
        await self.job.report_progress(percent)
        if time.monotonic() - self._stored_at >= _STORE_EVERY:
            await self._store()

    async def _store(self) -> None:
        self._stored_at = time.monotonic()
        async with self.job.unit_of_work() as session:
            await RecordingRepository(session).change(
                self.recording.tenant_id,
                self.recording.id,
                expect_status="processing",
                stage=self.stage,
                percent=self.percent,
            )


async def process(job: JobContext, resources: Resources, recording_id: str) -> None:
    """The job's body; safe to run again (outputs go to fixed keys, the state moves once)."""
    tenant_id = job.tenant_id
    assert tenant_id is not None, "recording jobs are enqueued with their tenant"
    announcer = Announcer(resources.bus)
    async with job.unit_of_work() as session:
        recording = await RecordingRepository(session).get(tenant_id, recording_id)
    if recording is None or recording.status != "processing" or recording.source_key is None:
        return  # deleted, or already settled by an earlier run
    async with failing_as(
        job, partial(_fail, job, announcer, recording), MEDIA_ERRORS,
        gave_up=("recording-processing-failed", "Processing failed"),
    ):  # fmt: skip
        await _run(job, resources, announcer, recording)


async def _fail(
    job: JobContext, announcer: Announcer, recording: Recording, slug: str, detail: str
) -> None:
    async with job.unit_of_work() as session:
        await mark_errored(session, announcer, recording, slug, detail, expect_status="processing")


async def _run(
    job: JobContext, resources: Resources, announcer: Announcer, recording: Recording
) -> None:
    settings, storage = resources.settings, resources.storage
    assert recording.source_key is not None
    tracker = _Tracker(job, announcer, recording)
    prefix = f"recordings/{recording.tenant_id}/{recording.id}"
    with tempfile.TemporaryDirectory(prefix="v100-recording-") as scratch:
        await tracker.enter("probing")
        source = Path(scratch) / "source"
        await download(storage, recording.source_key, source)
        info = await media.probe(source)
        media.check_picture(info)  # 8K at most, per side
        audio_only = info.video is None
        await tracker.enter("transcoding")
        output = Path(scratch) / ("recording.m4a" if audio_only else "recording.mp4")
        # An audio-only source gives an audio-only MP4, named .m4a as players expect.
        await media.encode_mp4(
            source, output, info, max_height=settings.max_height, on_progress=tracker.transcoding
        )
        thumbnail: Path | None = None
        if not audio_only:
            await tracker.enter("thumbnail")
            thumbnail = Path(scratch) / "thumbnail.jpg"
            # A recording shorter than that gives its middle frame (media.poster_time).
            await media.poster(source, thumbnail, info, at=settings.thumbnail_at)
        await tracker.enter("storing")
        output_key = f"{prefix}/{output.name}"
        content_type = "audio/mp4" if audio_only else "video/mp4"
        stored = await upload(storage, output, output_key, content_type)
        thumbnail_key: str | None = None
        if thumbnail is not None:
            thumbnail_key = f"{prefix}/thumbnail.jpg"
            await upload(storage, thumbnail, thumbnail_key, "image/jpeg")
    video = info.video
    async with job.unit_of_work() as session:
        done = await RecordingRepository(session).change(
            recording.tenant_id,
            recording.id,
            expect_status="processing",
            status="ready",
            stage="ready",
            percent=100,
            media=info.as_dict(),
            duration=info.duration,
            width=None if video is None else video.display_width,
            height=None if video is None else video.display_height,
            audio_only=audio_only,
            output_key=output_key,
            output_size=stored.size,
            thumbnail_key=thumbnail_key,
            ready_at=utcnow(),
        )
        if done is not None:
            state = snapshot(done)
            session_hooks(session).after_commit(
                lambda: announcer.changed(recording.tenant_id, state)
            )
    _log.info("recording ready", recording_id=recording.id, audio_only=audio_only)
