"""Running one analysis: fetch the video's MP4 from video_processing into storage (once), probe
it, refuse it when too long, hold credits per started minute, then run its stages in order
(``stages.ORDER``), each in a worker thread, each result stored as it finishes, so a rerun
after a killed worker skips what is stored and goes on from the first stage without a result.
A stage this video cannot feed (no sound) is skipped with the reason, and so are the stages
needing it; the transcript stage is skipped when transcription cannot give one. Then the credits
are captured, the fetched copy dropped and the analysis completed. Bad input (unreadable media,
a deleted video, too long, no credits) fails the analysis with a clear error, never retried and
never stuck; a passing failure (video_processing or billing away) is retried."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from v100 import media
from v100.contracts.credit_holds import credits_per_started_minute
from v100.kit.jobs import JobContext
from v100.kit.observability import get_logger
from v100.media.jobs import download, failing_as
from v100.media.motion import MotionSignals
from v100.media.probe import MediaInfo
from v100.services.video_analysis import (
    analysers,
    credits,
    highlights,
    lifecycle,
    progress,
    transcripts,
)
from v100.services.video_analysis import videos as video_source
from v100.services.video_analysis.errors import MEDIA_ERRORS, AnalysisFailed
from v100.services.video_analysis.models import Analysis, AnalysisStatus, StageResult
from v100.services.video_analysis.repository import AnalysisRepository, StageResultRepository
from v100.services.video_analysis.resources import Resources
from v100.services.video_analysis.service import analysis_prefix
from v100.services.video_analysis.stages import AUDIO_STAGES, NEEDS
from v100.services.video_analysis.transcripts import Skipped

__all__ = ["analyse", "fail"]

_log = get_logger("v100.video_analysis.processing")


class _Gone(Exception):
    """The analysis was deleted (or settled by the sweep) while it ran: stop quietly."""


async def analyse(job: JobContext, resources: Resources, analysis_id: str) -> None:
    """The job's body: queued (or running, on a rerun) -> running -> completed | failed."""
    async with job.unit_of_work() as session:
        row = await lifecycle.mark_running(session, analysis_id)
    if row is None:
        return  # settled by an earlier run, deleted, or failed by the sweep
    async with failing_as(
        job, partial(fail, job, resources, row.id), MEDIA_ERRORS,
        gave_up=("analysis-failed", "The analysis failed"),
    ):  # fmt: skip
        with tempfile.TemporaryDirectory(prefix=f"v100-analysis-{row.id}-") as scratch:
            run = _Run(job, resources, row, Path(scratch))
            try:
                await run.run()
            except _Gone:
                await run.drop_objects()


async def fail(
    job: JobContext, resources: Resources, analysis_id: str, slug: str, detail: str
) -> None:
    """-> failed, the hold released (failed work costs nothing) and the fetched copy dropped
    (the stages' results stay, readable)."""
    async with job.unit_of_work() as session:
        failed = await lifecycle.mark_failed(session, resources.bus, analysis_id, slug, detail)
    _log.info("analysis failed", analysis_id=analysis_id, error=slug, detail=detail[:200])
    if failed is None:
        return
    await progress.publish(resources.bus, failed)
    if failed.hold_id is not None:
        await credits.ANALYSE.release(
            resources.billing, work_id=failed.id, tenant_id=failed.tenant_id,
            hold_id=failed.hold_id,
        )  # fmt: skip
    if failed.source_key is not None:
        await resources.storage.delete(failed.source_key)


class _Run:
    """One run of one analysis: its row as the run knows it, the video on local disk, the
    results stored so far."""

    def __init__(self, job: JobContext, resources: Resources, row: Analysis, scratch: Path) -> None:
        self.job = job
        self.resources = resources
        self.settings = resources.settings
        self.row = row
        self.scratch = scratch
        self.src = scratch / "video.mp4"
        self.info: MediaInfo | None = None
        self.results: dict[str, dict[str, Any]] = {}
        # The motion and mouths read in the faces' pass, for the signals stage.
        self.motion: MotionSignals | None = None
        self.progress: dict[str, Any] = dict(row.progress)
        # Objects this run stored (the fetched video, keyframe images).
        self.written: list[str] = []

    async def run(self) -> None:
        async with self.job.unit_of_work() as session:
            self.results = await StageResultRepository(session).of(self.row.id)
        if not all(stage in self.results or self._skipped(stage) for stage in self.row.stages):
            await self._prepare()
        for stage in self.row.stages:
            if stage in self.results or self._skipped(stage):
                continue
            reason = self._cannot_run(stage)
            if reason is not None:
                await self._set(stage, "skipped", 0, reason)
                continue
            await self._set(stage, "running", 0)
            try:
                data = await RUNNERS[stage](self)
            except Skipped as exc:
                await self._set(stage, "skipped", 0, exc.reason)
                continue
            await self._store(stage, data)
        await self._complete()

    async def drop_objects(self) -> None:
        """What this run stored for an analysis deleted meanwhile (the DELETE cleaned up what
        was recorded before it)."""
        for key in self.written:
            await self.resources.storage.delete(key)

    # -- the video ---------------------------------------------------------------------------

    async def _prepare(self) -> None:
        """The video on local disk, probed; its facts recorded, its credits held."""
        row = self.row
        key = row.source_key or await self._fetch()
        await download(self.resources.storage, key, self.src)
        info = await media.probe(self.src)
        if info.video is None:
            raise media.UnsupportedMedia("the video has no picture")
        if info.duration > self.settings.max_video_seconds:
            raise AnalysisFailed(
                "video-too-long",
                f"the video is {info.duration:.0f} s long; at most "
                f"{self.settings.max_video_seconds:.0f} s are analysed",
            )
        self.info = info
        if row.duration is None:
            await self._update(
                duration=info.duration, width=info.video.display_width,
                height=info.video.display_height, frame_rate=info.video.frame_rate,
                has_audio=info.audio is not None,
            )  # fmt: skip
        amount = credits_per_started_minute(info.duration, self.settings.credits_per_minute)
        self.row.hold_id = await credits.reserve(self.job, self.resources, self.row, amount)

    async def _fetch(self) -> str:
        key = f"{analysis_prefix(self.row.tenant_id, self.row.id)}video.mp4"
        await video_source.fetch_video(self.job, self.resources, self.row, key)
        self.written.append(key)
        await self._update(source_key=key)
        return key

    # -- stages ------------------------------------------------------------------------------

    def _skipped(self, stage: str) -> bool:
        return bool(self.progress.get(stage, {}).get("status") == "skipped")

    def _cannot_run(self, stage: str) -> str | None:
        if stage in AUDIO_STAGES and not self.row.has_audio:
            return "the video has no audio track"
        for need in NEEDS.get(stage, ()):
            if self._skipped(need):
                return f"it needs the {need} stage, which was skipped"
        return None

    async def _thread(self, work: Callable[[], Any]) -> Any:
        return await asyncio.to_thread(work)

    async def _set(self, stage: str, status: str, percent: int, reason: str | None = None) -> None:
        self.progress = progress.with_stage(self.progress, stage, status, percent, reason)
        running = stage if status == "running" else None
        await self._update(
            progress=self.progress, stage=running, percent=progress.overall(self.progress)
        )
        await progress.publish(self.resources.bus, self.row)

    async def _store(self, stage: str, data: dict[str, Any]) -> None:
        """The stage's result and its completion, in one unit of work."""
        self.progress = progress.with_stage(self.progress, stage, "completed", 100)
        async with self.job.unit_of_work() as session:
            changed = await AnalysisRepository(session).change(
                self.row.id, expect_status=AnalysisStatus.RUNNING, progress=self.progress,
                percent=progress.overall(self.progress), stage=None,
            )  # fmt: skip
            if changed is None:
                raise _Gone
            await StageResultRepository(session).add(
                StageResult(
                    tenant_id=self.row.tenant_id, analysis_id=self.row.id, stage=stage, data=data
                )
            )
            self.row = changed
        self.results[stage] = data
        await progress.publish(self.resources.bus, self.row)

    async def _update(self, **values: Any) -> None:
        async with self.job.unit_of_work() as session:
            changed = await AnalysisRepository(session).change(
                self.row.id, expect_status=AnalysisStatus.RUNNING, **values
            )
        if changed is None:
            raise _Gone
        self.row = changed

    async def _complete(self) -> None:
        row = self.row
        charged = await credits.ANALYSE.capture(
            self.resources.billing, work_id=row.id, tenant_id=row.tenant_id,
            hold_id=row.hold_id, amount=credits_per_started_minute(
                row.duration or 0.0, self.settings.credits_per_minute),
        )  # fmt: skip
        async with self.job.unit_of_work() as session:
            done = await lifecycle.mark_completed(
                session, self.resources.bus, row.id, credits_charged=charged, source_key=None
            )
        if done is None:
            raise _Gone
        await progress.publish(self.resources.bus, done)
        if row.source_key is not None:
            await self.resources.storage.delete(row.source_key)

    # -- the runners -------------------------------------------------------------------------

    @property
    def _info(self) -> MediaInfo:
        assert self.info is not None
        return self.info

    async def scenes(self) -> dict[str, Any]:
        threshold = self.row.scene_threshold or self.settings.scene_threshold
        return dict(await self._thread(lambda: analysers.detect(self.src, self._info, threshold)))

    async def keyframes(self) -> dict[str, Any]:
        """The keyframes, and the faces in the same decoding pass when they are wanted too
        (stored here: the faces stage then finds its result)."""
        with_faces = "faces" in self.row.stages and "faces" not in self.results
        if with_faces:
            await self._set("faces", "running", 0)
        motion = self._motion_too(with_faces)
        found, faces, self.motion = await self._thread(
            lambda: analysers.pictures(
                self.src, self._info, self.results["scenes"], keyframes=True, faces=with_faces,
                sample_rate=self.settings.face_sample_rate, motion=motion,
            )
        )  # fmt: skip
        prefix = analysis_prefix(self.row.tenant_id, self.row.id)
        items = []
        for keyframe in found:
            extension = "jpg" if keyframe.format == "jpeg" else keyframe.format
            content_type = f"image/{keyframe.format}"
            key = f"{prefix}keyframes/{keyframe.scene:05d}.{extension}"
            await self.resources.storage.put(key, keyframe.image, content_type)
            self.written.append(key)
            items.append(
                {"scene": keyframe.scene, "frame": keyframe.frame, "time": keyframe.time,
                 "sharpness": round(keyframe.sharpness, 2), "width": keyframe.width,
                 "height": keyframe.height, "content_type": content_type, "key": key}
            )  # fmt: skip
        if faces is not None:
            await self._store("faces", faces)
        return {"items": items}

    async def faces(self) -> dict[str, Any]:
        motion = self._motion_too(True)
        _, faces, self.motion = await self._thread(
            lambda: analysers.pictures(
                self.src, self._info, self.results["scenes"], keyframes=False, faces=True,
                sample_rate=self.settings.face_sample_rate, motion=motion,
            )
        )  # fmt: skip
        assert faces is not None
        return dict(faces)

    def _motion_too(self, faces: bool) -> analysers.Motion | None:
        """The signals stage's motion and mouths, read in the faces' decoding pass when that
        stage is still to run (kept in memory for it: a rerun after a killed worker reads
        them in a pass of its own)."""
        if not faces or "signals" not in self.row.stages or "signals" in self.results:
            return None
        return analysers.Motion(self.settings.curve_interval, self.settings.motion_sample_rate)

    async def speech(self) -> dict[str, Any]:
        duration = self.row.duration or 0.0
        return dict(await self._thread(lambda: analysers.speech(self.src, self.scratch, duration)))

    async def signals(self) -> dict[str, Any]:
        faces, motion = self.results.get("faces"), self.motion
        return dict(
            await self._thread(
                lambda: analysers.signals(
                    self.src, self._info, faces, has_audio=bool(self.row.has_audio),
                    interval=self.settings.curve_interval,
                    sample_rate=self.settings.motion_sample_rate, motion=motion,
                )
            )
        )  # fmt: skip

    async def speakers(self) -> dict[str, Any]:
        signals, speech = self.results["signals"], self.results["speech"]
        turns = await self._thread(lambda: analysers.speakers(signals, speech))
        return {"turns": turns}

    async def transcript(self) -> dict[str, Any]:
        async def waiting(share: float) -> None:
            await self._set("transcript", "running", min(99, round(share * 100)))

        return await transcripts.finished_transcript(
            self.settings, self.row.tenant_id, self.row.video_id, waiting
        )

    async def highlights(self) -> dict[str, Any]:
        return await highlights.highlights(
            self.settings, self.results, self.row.highlight_options,
            duration=self.row.duration or 0.0, height=self.row.height or 1,
            charge=credits.TokenCharge(self.job, self.resources, self.row),
        )  # fmt: skip


RUNNERS: dict[str, Callable[[_Run], Awaitable[dict[str, Any]]]] = {
    "scenes": _Run.scenes,
    "keyframes": _Run.keyframes,
    "faces": _Run.faces,
    "speech": _Run.speech,
    "signals": _Run.signals,
    "speakers": _Run.speakers,
    "transcript": _Run.transcript,
    "highlights": _Run.highlights,
}
