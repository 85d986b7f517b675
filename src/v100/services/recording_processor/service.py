"""recording_processor's domain: creating recordings, receiving their content as a stream into
object storage (the size limit enforced while it arrives), queueing their processing, and the
presigned links to what they produced. No HTTP objects in here."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import Page, new_id, session_hooks, unit_of_work, utcnow
from v100.kit.jobs import enqueue
from v100.kit.storage import ObjectStore
from v100.services.recording_processor.errors import (
    EmptyRecording,
    RecordingNotFound,
    RecordingNotUploading,
    RecordingTooLarge,
    UploadSuperseded,
)
from v100.services.recording_processor.ingest import stream_to_storage
from v100.services.recording_processor.lifecycle import mark_errored
from v100.services.recording_processor.models import Recording
from v100.services.recording_processor.progress import Announcer, snapshot
from v100.services.recording_processor.repository import RecordingRepository
from v100.services.recording_processor.settings import RecordingProcessorSettings

__all__ = ["Download", "RecordingService", "object_prefix"]


def object_prefix(recording: Recording) -> str:
    return f"recordings/{recording.tenant_id}/{recording.id}"


@dataclass(frozen=True, slots=True)
class Download:
    kind: str
    url: str
    filename: str
    content_type: str
    size: int | None
    expires_at: datetime


def _file_stem(title: str) -> str:
    stem = re.sub(r"[^\w\- ]+", "", title).strip()[:100]
    return stem or "recording"


class RecordingService:
    """One service instance per request or job: the sessions, the store and the announcer."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        storage: ObjectStore,
        announcer: Announcer,
        settings: RecordingProcessorSettings,
    ) -> None:
        self.sessions = sessions
        self.storage = storage
        self.announcer = announcer
        self.settings = settings

    # -- reads and creation (in the request's unit of work) ---------------------------------

    async def create(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        title: str,
        meeting_id: str | None,
        recording_id: str | None = None,
        tus_upload_id: str | None = None,
    ) -> Recording:
        """A recording waiting for its content: a PUT, or (``tus_upload_id``, a meeting's)
        the chunks appended to that tus upload."""
        recording = Recording(
            id=recording_id or new_id(),
            tenant_id=tenant_id,
            title=title,
            meeting_id=meeting_id,
            tus_upload_id=tus_upload_id,
            status="uploading",
            stage="uploading",
            percent=0,
        )
        return await RecordingRepository(session).add(recording)

    async def get(self, session: AsyncSession, tenant_id: str, recording_id: str) -> Recording:
        recording = await RecordingRepository(session).get(tenant_id, recording_id)
        if recording is None:
            raise RecordingNotFound(f"Recording {recording_id} does not exist.")
        return recording

    async def page(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        meeting_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Recording]:
        return await RecordingRepository(session).page(
            tenant_id, meeting_id=meeting_id, limit=limit, cursor=cursor
        )

    async def downloads(self, recording: Recording) -> list[Download]:
        """Presigned links to the MP4 (or M4A), the thumbnail and the uploaded source."""
        expires_in = self.settings.download_url_seconds
        expires_at = utcnow() + timedelta(seconds=expires_in)
        stem = _file_stem(recording.title)
        wanted: list[tuple[str, str | None, str, str, int | None]] = []
        if recording.status == "ready":
            extension, content_type = (
                ("m4a", "audio/mp4") if recording.audio_only else ("mp4", "video/mp4")
            )
            wanted.append(
                (extension, recording.output_key, f"{stem}.{extension}", content_type,
                 recording.output_size)
            )  # fmt: skip
            wanted.append(("thumbnail", recording.thumbnail_key, f"{stem}.jpg", "image/jpeg", None))
        if recording.status in ("processing", "ready"):
            wanted.append(
                ("source", recording.source_key, f"{stem}.webm",
                 recording.source_content_type or "video/webm", recording.source_size)
            )  # fmt: skip
        links: list[Download] = []
        for kind, key, filename, content_type, size in wanted:
            if key is None:
                continue
            url = await self.storage.presign_get(key, expires_in, filename=filename)
            links.append(Download(kind, url, filename, content_type, size, expires_at))
        return links

    # -- ingest (its own short units of work around a long stream) --------------------------

    async def receive(
        self,
        tenant_id: str,
        recording_id: str,
        body: AsyncIterator[bytes],
        *,
        declared_length: int | None,
        content_type: str | None,
    ) -> Recording:
        """Store ``body`` as the recording's content and queue its processing. A body declared
        or found larger than the limit, or empty, errors the recording and raises; a body that
        breaks off (the client went away) leaves it uploading, to be sent again."""
        limit = self.settings.max_recording_bytes
        if declared_length is not None and declared_length > limit:
            await self._refuse(tenant_id, recording_id, RecordingTooLarge(
                f"A recording takes at most {limit} bytes; this one declares {declared_length}."
            ))  # fmt: skip
        async with unit_of_work(self.sessions) as session:
            recording = await self.get(session, tenant_id, recording_id)
            if recording.status != "uploading":
                raise RecordingNotUploading(f"Recording {recording_id} is {recording.status}.")
            key = f"{object_prefix(recording)}/source-{new_id()}"
            upload_id = await self.storage.create_multipart(key, content_type or "video/webm")
            # A newer PUT takes over from one still running (or dead): the older one then
            # fails at completion and aborts its own parts.
            claimed = await RecordingRepository(session).change(
                tenant_id, recording_id, expect_status="uploading", upload_id=upload_id
            )
        if claimed is None:
            await self.storage.abort_multipart(key, upload_id)
            raise RecordingNotUploading(f"Recording {recording_id} no longer takes content.")

        async def uploaded_so_far(received: int) -> None:
            if declared_length:
                state = snapshot(claimed).model_copy(
                    update={"percent": min(99, received * 100 // declared_length)}
                )
                await self.announcer.progress(tenant_id, state)

        try:
            upload = await stream_to_storage(
                self.storage,
                key,
                upload_id,
                body,
                limit=limit,
                part_size=self.settings.part_size,
                on_part=uploaded_so_far,
            )
        except (RecordingTooLarge, EmptyRecording) as error:
            async with unit_of_work(self.sessions) as session:
                await mark_errored(
                    session, self.announcer, claimed, error.slug, str(error),
                    expect_status="uploading", expect_upload_id=upload_id,
                )  # fmt: skip
            raise
        except BaseException:
            async with unit_of_work(self.sessions) as session:
                await RecordingRepository(session).change(
                    tenant_id, recording_id, expect_status="uploading",
                    expect_upload_id=upload_id, upload_id=None,
                )  # fmt: skip
            raise
        async with unit_of_work(self.sessions) as session:
            job_id = new_id()
            done = await RecordingRepository(session).change(
                tenant_id,
                recording_id,
                expect_status="uploading",
                expect_upload_id=upload_id,
                status="processing",
                stage="queued",
                percent=0,
                upload_id=None,
                source_key=key,
                source_size=upload.stored.size,
                source_content_type=content_type or "video/webm",
                uploaded_at=utcnow(),
            )
            if done is not None:
                job_id = await enqueue(
                    session,
                    "recording_processor.process_recording",
                    recording_id,
                    tenant_id=tenant_id,
                    dedupe_key=f"recording:{recording_id}",
                )
                done.job_id = job_id
                await session.flush()
                state = snapshot(done)
                session_hooks(session).after_commit(
                    lambda: self.announcer.changed(tenant_id, state, uploaded=True)
                )
        if done is None:
            await self.storage.delete(key)
            raise UploadSuperseded(f"Another upload of recording {recording_id} took over.")
        return done

    async def _refuse(self, tenant_id: str, recording_id: str, error: RecordingTooLarge) -> None:
        async with unit_of_work(self.sessions) as session:
            recording = await self.get(session, tenant_id, recording_id)
            if recording.status != "uploading":
                raise RecordingNotUploading(f"Recording {recording_id} is {recording.status}.")
            await mark_errored(
                session, self.announcer, recording, error.slug, str(error),
                expect_status="uploading",
            )  # fmt: skip
        raise error
