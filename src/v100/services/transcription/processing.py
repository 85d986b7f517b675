"""Transcribing one transcript: fetch the source (a URL, under the SSRF rules, or a stored
video's audio from video_processing) or take the upload, refuse it when the file says it is too
long, decode it to 16 kHz PCM on disk (``v100.ai.audio.decode_pcm``, stopped past the limit
whatever the file says), hold credits per started minute, run the transcript's backend off the
event loop, store the document, capture the credits and settle. Bad input (unreadable media, a
refused URL, a deleted video, too long, no credits) ends the transcript ``failed`` with a clear
error, never retried and never stuck; a passing failure (an unreachable URL, video_processing or
billing) is retried. A rerun after a killed worker starts over from the stored source and is
charged once (the hold's keys derive from the transcript)."""

from __future__ import annotations

import asyncio
import tempfile
from functools import partial
from pathlib import Path

from v100 import media
from v100.ai.asr import to_document
from v100.ai.audio import AudioTooLong, decode_pcm
from v100.contracts.credit_holds import credits_per_started_minute
from v100.kit.fetch import UrlFetchFailed, UrlNotAllowed, UrlTooLarge, fetch_to_store
from v100.kit.jobs import JobContext
from v100.kit.observability import get_logger
from v100.media.jobs import download, failing_as
from v100.services.transcription import credits, lifecycle, speakers, videos
from v100.services.transcription.backends import BACKENDS
from v100.services.transcription.errors import MEDIA_ERRORS, TranscriptFailed
from v100.services.transcription.models import Transcript
from v100.services.transcription.repository import TranscriptRepository
from v100.services.transcription.resources import Resources
from v100.services.transcription.service import fetch_policy, upload_key

__all__ = ["transcribe"]

_log = get_logger("v100.transcription.processing")


async def transcribe(job: JobContext, resources: Resources, transcript_id: str) -> None:
    """The job's body: queued (or processing, on a rerun) -> processing -> completed | failed."""
    async with job.unit_of_work() as session:
        row = await lifecycle.mark_processing(session, transcript_id)
    if row is None:
        return  # settled by an earlier run, deleted, or failed by the sweep
    async with failing_as(
        job, partial(fail, job, resources, row.id), MEDIA_ERRORS,
        gave_up=("transcription-failed", "Transcription failed"),
    ):  # fmt: skip
        with tempfile.TemporaryDirectory(prefix=f"v100-transcript-{row.id}-") as scratch:
            await _run(job, resources, row, Path(scratch))


async def fail(
    job: JobContext, resources: Resources, transcript_id: str, slug: str, detail: str
) -> None:
    """-> failed, the hold released (failed work costs nothing) and the source dropped."""
    async with job.unit_of_work() as session:
        failed = await lifecycle.mark_failed(session, resources.bus, transcript_id, slug, detail)
    _log.info("transcript failed", transcript_id=transcript_id, error=slug, detail=detail[:200])
    if failed is None:
        return
    if failed.hold_id is not None:
        await credits.TRANSCRIBE.release(
            resources.billing, work_id=failed.id, tenant_id=failed.tenant_id,
            hold_id=failed.hold_id,
        )  # fmt: skip
    if failed.source_key is not None:
        await resources.storage.delete(failed.source_key)


async def _source(job: JobContext, resources: Resources, row: Transcript) -> str:
    """The stored source's key: the upload, or the URL or stored video's audio fetched into
    storage once."""
    if row.source_key is not None:
        return row.source_key
    key = upload_key(row.tenant_id, row.id)
    if row.source_video_id is not None:
        await videos.fetch_audio(job, resources, row, key)
    else:
        await _fetch_url(job, resources, row, key)
    async with job.unit_of_work() as session:
        stored = await TranscriptRepository(session).by_id(row.id)
        if stored is None:  # deleted while it was fetched
            await resources.storage.delete(key)
            raise TranscriptFailed("transcript-deleted", "the transcript was deleted")
        stored.source_key = key
    return key


async def _fetch_url(job: JobContext, resources: Resources, row: Transcript, key: str) -> None:
    assert row.source_url is not None
    try:
        await fetch_to_store(
            row.source_url, resources.storage, key, fetch_policy(resources.settings)
        )
    except (UrlNotAllowed, UrlTooLarge) as exc:
        raise TranscriptFailed(exc.slug, exc.detail or exc.title) from exc
    except UrlFetchFailed as exc:
        if job.is_last_attempt:
            raise TranscriptFailed(exc.slug, exc.detail or exc.title) from exc
        raise


async def _run(job: JobContext, resources: Resources, row: Transcript, scratch: Path) -> None:
    settings = resources.settings
    transcriber = BACKENDS.get(row.backend, settings)
    if transcriber is None:
        raise TranscriptFailed(
            "backend-not-configured", f"the {row.backend!r} backend is not configured here"
        )
    key = await _source(job, resources, row)
    path = scratch / "source"
    await download(resources.storage, key, path)
    await job.report_progress(10)
    limit = settings.max_audio_seconds
    said = await _stated_duration(path)
    if said is not None and said > limit:
        raise TranscriptFailed("source-too-long", _too_long(limit, f"lasts {said:.0f} s"))
    try:
        pcm = await asyncio.to_thread(decode_pcm, path, scratch / "pcm.f32", max_seconds=limit)
    except AudioTooLong as exc:
        raise TranscriptFailed("source-too-long", _too_long(limit, "goes on longer")) from exc
    duration = pcm.duration
    amount = credits_per_started_minute(duration, settings.credits_per_minute)
    hold_id = await credits.reserve(job, resources, row, amount)
    await job.report_progress(20)
    try:
        transcript = await speakers.transcribe(
            transcriber, pcm, language=row.language_requested, diarize=row.diarize,
            settings=settings,
        )  # fmt: skip
    except ValueError as exc:  # a language the backend does not know
        raise TranscriptFailed("transcription-refused", str(exc)[:300]) from exc
    await job.report_progress(90)
    document = to_document(transcript)
    charged = await credits.TRANSCRIBE.capture(
        resources.billing, work_id=row.id, tenant_id=row.tenant_id, hold_id=hold_id,
        amount=amount,
    )  # fmt: skip
    async with job.unit_of_work() as session:
        completed = await lifecycle.mark_completed(
            session, resources.bus, row.id,
            language=document.language, language_probability=document.language_probability,
            duration=document.duration, speech_duration=transcript.speech_duration,
            word_count=sum(len(segment.words) for segment in document.segments),
            document=document.model_dump(mode="json"), credits_charged=charged,
            source_key=None,
        )  # fmt: skip
    if completed is not None:
        await resources.storage.delete(key)
    _log.info(
        "transcript completed", transcript_id=row.id, seconds=round(duration, 1),
        words=completed.word_count if completed else None,
    )  # fmt: skip


async def _stated_duration(path: Path) -> float | None:
    """The length the file's container states (read without decoding), so a file that says it
    is too long is refused before any decoding; None when it cannot be read (decoding then
    says what is wrong with it)."""
    try:
        return (await media.probe(path)).duration
    except media.MediaError:
        return None


def _too_long(limit: float, found: str) -> str:
    return f"the audio {found}; at most {limit:.0f} s are transcribed"
