"""media_processor's domain for inputs and jobs: the platform specs, receiving an input as a
stream into object storage (size bounded while it arrives, sha256 taken on the way), creating
media jobs on an input, and presigned links to their outputs. No HTTP objects in here."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100 import media
from v100.ai.asr import LocalWhisper
from v100.contracts.transcripts import TranscriptDocument
from v100.kit.db import Page, new_id, session_hooks, unit_of_work, utcnow
from v100.kit.jobs import enqueue
from v100.kit.storage import ObjectStore, UploadRefusals, receive_bounded
from v100.media import captions
from v100.services.media_processor.errors import (
    EmptyInput,
    InputNotFound,
    InputTooLarge,
    MediaJobNotFound,
    PlatformNotFound,
)
from v100.services.media_processor.language import (
    LanguageFound,
    detect_in_media,
    detect_in_text,
)
from v100.services.media_processor.models import JobStatus, MediaInput, MediaJob
from v100.services.media_processor.repository import InputRepository, JobRepository
from v100.services.media_processor.settings import MediaProcessorSettings

__all__ = [
    "CAPTION_TYPES",
    "Download",
    "MediaService",
    "captions_file",
    "platform_spec",
    "register_input",
]

# receive_bounded's refusals in this service's words.
INPUT_REFUSALS = UploadRefusals(
    InputTooLarge, "An input", EmptyInput, "The request body was empty."
)

# The media type each caption format is answered with.
CAPTION_TYPES = {
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "json": "application/json",
}


def platform_spec(name: str) -> media.PlatformSpec:
    spec = media.PLATFORM_SPECS.get(name)
    if spec is None:
        known = ", ".join(media.PLATFORM_SPECS)
        raise PlatformNotFound(f"No spec for platform {name!r}; known: {known}.")
    return spec


def captions_file(
    transcript: TranscriptDocument,
    file_format: str,
    limits: captions.CaptionLimits,
    *,
    speaker_labels: bool,
) -> str:
    """The transcript's captions as an SRT, WebVTT or JSON (``{"cues": [...]}``) text."""
    cues = captions.build_cues(transcript, limits, speaker_labels=speaker_labels)
    if file_format == "srt":
        return captions.render_srt(cues, speaker_labels=speaker_labels)
    if file_format == "vtt":
        return captions.render_vtt(cues, speaker_labels=speaker_labels)
    cue_list = captions.cues_json(cues, speaker_labels=speaker_labels)
    return json.dumps({"cues": cue_list, "language": transcript.language}, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Download:
    url: str
    filename: str
    content_type: str | None
    size: int | None
    expires_at: datetime


async def register_input(
    session: AsyncSession,
    storage: ObjectStore,
    tenant_id: str,
    name: str,
    *,
    key: str,
    size: int,
    content_type: str | None,
    sha256: str | None,
) -> MediaInput:
    """Point the tenant's input ``name`` at the object ``key`` (created or replaced). The object
    it pointed at before is deleted after commit unless a queued or running job still reads it."""
    inputs = InputRepository(session)
    row = await inputs.by_name(tenant_id, name)
    if row is None:
        return await inputs.add(
            MediaInput(
                id=new_id(), tenant_id=tenant_id, name=name, key=key, size=size,
                content_type=content_type, sha256=sha256,
            )
        )  # fmt: skip
    previous = row.key
    row.key, row.size, row.content_type, row.sha256 = key, size, content_type, sha256
    row.updated_at = utcnow()
    await session.flush()
    if previous != key and not await JobRepository(session).uses_key(previous):

        async def drop() -> None:
            with contextlib.suppress(Exception):
                await storage.delete(previous)

        session_hooks(session).after_commit(drop)
    return row


class MediaService:
    """One instance per request: the sessions, the store and the settings."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        storage: ObjectStore,
        settings: MediaProcessorSettings,
    ) -> None:
        self.sessions = sessions
        self.storage = storage
        self.settings = settings

    # -- inputs ------------------------------------------------------------------------------

    async def receive_input(
        self,
        tenant_id: str,
        name: str,
        body: AsyncIterator[bytes],
        *,
        declared_length: int | None,
        content_type: str | None,
    ) -> MediaInput:
        """Stream ``body`` into storage as the input ``name``. Past the limit (declared or
        counted) ``InputTooLarge``; no bytes ``EmptyInput``; either way nothing is kept and an
        earlier input of that name stays as it was."""
        received = await receive_bounded(
            self.storage, f"media/{tenant_id}/inputs/{new_id()}", body,
            limit=self.settings.max_input_bytes, declared_length=declared_length,
            content_type=content_type, refusals=INPUT_REFUSALS,
        )  # fmt: skip
        try:
            async with unit_of_work(self.sessions) as session:
                return await register_input(
                    session, self.storage, tenant_id, name, key=received.key,
                    size=received.size, content_type=content_type, sha256=received.sha256,
                )  # fmt: skip
        except BaseException:
            with contextlib.suppress(Exception):
                await self.storage.delete(received.key)
            raise

    async def get_input(self, session: AsyncSession, tenant_id: str, name: str) -> MediaInput:
        row = await InputRepository(session).by_name(tenant_id, name)
        if row is None:
            raise InputNotFound(f"Input {name!r} does not exist.")
        return row

    # -- jobs --------------------------------------------------------------------------------

    async def create_job(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        operation: str,
        input_name: str,
        params: dict[str, Any],
    ) -> MediaJob:
        """A queued job on the input as it is now; its run is sent after commit."""
        source = await self.get_input(session, tenant_id, input_name)
        row = await JobRepository(session).add(
            MediaJob(
                id=new_id(), tenant_id=tenant_id, operation=operation, params=params,
                input_name=input_name, input_key=source.key, status=JobStatus.QUEUED, percent=0,
            )
        )  # fmt: skip
        row.job_id = await enqueue(
            session,
            "media_processor.run_media_job",
            row.id,
            tenant_id=tenant_id,
            dedupe_key=f"media-job:{row.id}",
        )
        await session.flush()
        return row

    async def detect_language(
        self, tenant_id: str, whisper: LocalWhisper, *, text: str | None, input_name: str | None
    ) -> LanguageFound:
        """The language of ``text``, or of the speech in the input ``input_name``."""
        if text is not None:
            return detect_in_text(text)
        assert input_name is not None
        async with self.sessions() as session:
            key = (await self.get_input(session, tenant_id, input_name)).key
        seconds = self.settings.language_detection_seconds
        return await detect_in_media(self.storage, key, whisper, seconds=seconds)

    async def get_job(self, session: AsyncSession, tenant_id: str, job_id: str) -> MediaJob:
        row = await JobRepository(session).get(tenant_id, job_id)
        if row is None:
            raise MediaJobNotFound(f"Media job {job_id} does not exist.")
        return row

    async def page(
        self, session: AsyncSession, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[MediaJob]:
        return await JobRepository(session).page(tenant_id, limit=limit, cursor=cursor)

    async def download(self, job: MediaJob) -> Download | None:
        """A presigned link to a succeeded job's output."""
        if job.status != JobStatus.SUCCEEDED or job.output_key is None:
            return None
        expires_in = self.settings.download_url_seconds
        filename = job.output_key.rsplit("/", 1)[-1]
        url = await self.storage.presign_get(job.output_key, expires_in, filename=filename)
        expires_at = utcnow() + timedelta(seconds=expires_in)
        return Download(url, filename, job.output_content_type, job.output_size, expires_at)
