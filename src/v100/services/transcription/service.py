"""transcription's domain: choosing a transcript's backend, creating transcripts from a URL, a
stored video (checked with video_processing at once) or a file streamed into object storage
(the size limit enforced while it arrives), a video's automatic transcript, queueing their job,
reading, listing and deleting them; the tenant's settings. No HTTP objects in here."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import Page, new_id, session_hooks
from v100.kit.errors import NotConfigured
from v100.kit.fetch import FetchPolicy, UrlFetchFailed, check_url
from v100.kit.jobs import enqueue
from v100.kit.storage import ObjectStore, ReceivedObject, UploadRefusals, receive_bounded
from v100.services.transcription import videos
from v100.services.transcription.backends import BACKENDS
from v100.services.transcription.errors import (
    BackendUnknown,
    EmptySource,
    SourceTooLarge,
    TranscriptNotFound,
)
from v100.services.transcription.models import (
    SourceKind,
    TenantSettings,
    Transcript,
    TranscriptStatus,
)
from v100.services.transcription.repository import TenantSettingsRepository, TranscriptRepository
from v100.services.transcription.settings import TranscriptionSettings
from v100.services.transcription.speakers import DIARIZER, finds_own_speakers

__all__ = ["StoredUpload", "TranscriptService", "fetch_policy", "upload_key"]

JOB = "transcription.transcribe"


def fetch_policy(settings: TranscriptionSettings) -> FetchPolicy:
    """How a URL source is fetched: public addresses only (plus the configured networks)."""
    return FetchPolicy(
        max_bytes=settings.max_source_bytes, allow_cidrs=tuple(settings.url_allow_cidrs)
    )


def upload_key(tenant_id: str, upload_id: str) -> str:
    return f"transcripts/{tenant_id}/sources/{upload_id}"


# receive_bounded's refusals in this service's words.
UPLOAD_REFUSALS = UploadRefusals(
    SourceTooLarge,
    "A file",
    EmptySource,
    "The request body is empty: send the audio or video file itself.",
)


# What an uploaded file is once stored: its key, size, SHA-256 and content type.
StoredUpload = ReceivedObject


class TranscriptService:
    """One instance per request or job: the sessions, the store and the settings."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        storage: ObjectStore,
        settings: TranscriptionSettings,
    ) -> None:
        self.sessions = sessions
        self.storage = storage
        self.settings = settings

    # -- choices ------------------------------------------------------------------------------

    def backend_for(self, tenant_id: str, asked: str | None) -> str:
        """The backend a new transcript uses; refused when unknown or not configured here."""
        name = BACKENDS.choose(self.settings, tenant_id, asked)
        if not BACKENDS.knows(name):
            raise BackendUnknown(
                f"No transcription backend is named {name!r}; known: {', '.join(BACKENDS.names())}."
            )
        if not BACKENDS.configured(name, self.settings):
            raise NotConfigured(f"The {name!r} transcription backend is not configured here.")
        return name

    def diarize_for(self, backend: str, asked: bool | None) -> bool:
        """Whether a new transcript with ``backend`` finds speakers: not when asked not to;
        with a backend that finds them itself (Deepgram) or the local diarizer where this
        installation has it; asked for with neither, 501."""
        if asked is False:
            return False
        if finds_own_speakers(BACKENDS.get(backend, self.settings)):
            return True
        if DIARIZER.get(self.settings) is not None:
            return True
        if asked:
            raise NotConfigured(
                f"Speaker diarization is not available with the {backend!r} backend here: the "
                "installation lacks the diarization extra, or turned local diarization off."
            )
        return False

    # -- creation (in the request's unit of work) -------------------------------------------

    async def create_from_url(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        url: str,
        language: str | None,
        backend: str | None,
        diarize: bool | None,
    ) -> Transcript:
        """A transcript of the file at ``url``: checked now (a private address is refused at
        once), fetched by the job (checked again there, and at every redirect). A host that
        does not resolve now is left to the job: DNS may answer on a retry, and if it never
        does the transcript fails ``url-fetch-failed``."""
        chosen = self.backend_for(tenant_id, backend)
        speakers = self.diarize_for(chosen, diarize)
        try:
            checked = await check_url(url, fetch_policy(self.settings))
        except UrlFetchFailed:
            checked = url
        row = Transcript(
            id=new_id(), tenant_id=tenant_id, source_kind=SourceKind.URL, source_url=checked,
            language_requested=_language(language), backend=chosen, diarize=speakers,
        )  # fmt: skip
        return await self._queue(session, row)

    async def create_from_video(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        video_id: str,
        language: str | None,
        backend: str | None,
        diarize: bool | None,
    ) -> Transcript:
        """A transcript of the tenant's stored video: video_processing is asked now (unknown or
        another tenant's: 404; not ready, or without audio: 409); the job fetches its audio."""
        chosen = self.backend_for(tenant_id, backend)
        speakers = self.diarize_for(chosen, diarize)
        await videos.check_video(self.settings, tenant_id, video_id)
        row = Transcript(
            id=new_id(), tenant_id=tenant_id, source_kind=SourceKind.VIDEO,
            source_video_id=video_id, language_requested=_language(language), backend=chosen,
            diarize=speakers,
        )  # fmt: skip
        return await self._queue(session, row)

    async def for_video(self, session: AsyncSession, tenant_id: str, video_id: str) -> Transcript:
        """For another service (``contracts.transcription``): the video's newest transcript
        that has not failed, else one asked for now (the tenant's default backend, checked
        with video_processing as a POST is); with only failed ones, the newest failed one."""
        rows = await TranscriptRepository(session).of_video(tenant_id, video_id)
        alive = next((row for row in rows if row.status != TranscriptStatus.FAILED), None)
        if alive is not None or rows:
            return alive or rows[0]
        return await self.create_from_video(
            session, tenant_id, video_id=video_id, language=None, backend=None, diarize=None
        )

    async def create_automatic(
        self, session: AsyncSession, tenant_id: str, video_id: str, settings: TenantSettings
    ) -> Transcript | None:
        """The video's automatic transcript with the tenant's ``settings``, unless it has one
        already (None), with speakers where the backend or this installation can find them.
        Its backend is not checked here: one that is not configured fails the transcript,
        which the tenant sees."""
        if await TranscriptRepository(session).automatic_for(tenant_id, video_id) is not None:
            return None
        backend = BACKENDS.choose(self.settings, tenant_id, settings.auto_backend)
        row = Transcript(
            id=new_id(), tenant_id=tenant_id, source_kind=SourceKind.VIDEO,
            source_video_id=video_id, automatic=True,
            language_requested=_language(settings.auto_language), backend=backend,
            diarize=self.diarize_for(backend, None),
        )  # fmt: skip
        return await self._queue(session, row)

    async def create_from_upload(
        self,
        session: AsyncSession,
        tenant_id: str,
        upload: StoredUpload,
        *,
        name: str | None,
        language: str | None,
        backend: str,
        diarize: bool,
    ) -> Transcript:
        """``backend`` and ``diarize`` as decided (``backend_for``, ``diarize_for``) before
        the upload was stored."""
        row = Transcript(
            id=new_id(), tenant_id=tenant_id, source_kind=SourceKind.UPLOAD, source_name=name,
            source_key=upload.key, source_size=upload.size,
            source_content_type=upload.content_type, language_requested=_language(language),
            backend=backend, diarize=diarize,
        )  # fmt: skip
        return await self._queue(session, row)

    async def _queue(self, session: AsyncSession, row: Transcript) -> Transcript:
        row.status = TranscriptStatus.QUEUED
        await TranscriptRepository(session).add(row)
        row.job_id = await enqueue(
            session, JOB, row.id, tenant_id=row.tenant_id, dedupe_key=f"transcript:{row.id}"
        )
        await session.flush()
        return row

    async def store_upload(
        self,
        tenant_id: str,
        body: AsyncIterator[bytes],
        *,
        declared_length: int | None,
        content_type: str | None,
    ) -> StoredUpload:
        """Stream an uploaded file into storage: over ``max_source_bytes`` (declared or found)
        is ``SourceTooLarge``, nothing at all ``EmptySource``; nothing is kept on a refusal."""
        return await receive_bounded(
            self.storage, upload_key(tenant_id, new_id()), body,
            limit=self.settings.max_source_bytes, declared_length=declared_length,
            content_type=content_type, refusals=UPLOAD_REFUSALS,
        )  # fmt: skip

    # -- reads and deletion -----------------------------------------------------------------

    async def get(self, session: AsyncSession, tenant_id: str, transcript_id: str) -> Transcript:
        row = await TranscriptRepository(session).get(tenant_id, transcript_id)
        if row is None:
            raise TranscriptNotFound(f"Transcript {transcript_id} does not exist.")
        return row

    async def page(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Transcript]:
        return await TranscriptRepository(session).page(
            tenant_id, status=status, limit=limit, cursor=cursor
        )

    async def delete(self, session: AsyncSession, tenant_id: str, transcript_id: str) -> None:
        """Forget the transcript and drop its stored source (after commit). A job still running
        finds no row and stops; its hold is released when it tries to settle."""
        row = await self.get(session, tenant_id, transcript_id)
        key = row.source_key
        await session.delete(row)
        if key is not None:
            storage = self.storage
            session_hooks(session).after_commit(lambda: storage.delete(key))

    # -- the tenant's settings ---------------------------------------------------------------

    async def tenant_settings(self, session: AsyncSession, tenant_id: str) -> TenantSettings:
        """The tenant's settings; the defaults (not stored) until first set."""
        row = await TenantSettingsRepository(session).of_tenant(tenant_id)
        return row or TenantSettings(tenant_id=tenant_id, auto_transcribe_videos=False)

    async def set_tenant_settings(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        auto_transcribe_videos: bool,
        auto_language: str | None,
        auto_backend: str | None,
    ) -> TenantSettings:
        """Replace the tenant's settings; a backend must be known and configured here."""
        if auto_backend is not None:
            self.backend_for(tenant_id, auto_backend)
        row = await TenantSettingsRepository(session).of_tenant(tenant_id)
        if row is None:
            row = TenantSettings(tenant_id=tenant_id)
            session.add(row)
        row.auto_transcribe_videos = auto_transcribe_videos
        row.auto_language = _language(auto_language)
        row.auto_backend = auto_backend
        await session.flush()
        return row


def _language(language: str | None) -> str | None:
    return None if language in (None, "auto") else language
