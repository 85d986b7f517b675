"""Resumable uploads over the tus 1.0.0 protocol (core, creation, creation-with-upload,
creation-defer-length, termination, checksum, expiration) for any service: chunks stream into
the service's object store while they arrive (S3: multipart parts; local disk: one growing
file, renamed into place at the end), progress lives in the
service's own ``kit_tus_uploads`` table, and any tus client resumes after a broken connection
or a server restart. docs/uploads.md tells the whole story; a service wires it like this:

    # models.py — the table lives in the service's own metadata and database
    add_tus_table(Base.metadata)

    # migrations/versions/2026-..._uploads.py
    from v100.kit.tus.migration import create_tus_table, drop_tus_table
    def upgrade() -> None: create_tus_table()
    def downgrade() -> None: drop_tus_table()

    # uploads.py — the endpoint and its hooks
    async def check(new: NewUpload) -> None:          # optional: refuse before any byte
        if "filename" not in new.metadata:
            raise ValidationFailed("Upload-Metadata needs a filename")

    async def completed(session: AsyncSession, upload: TusUpload) -> None:
        # Same transaction as the upload's "completed" mark: both commit or neither does
        # (then it runs again on the next HEAD or sweep), so make it idempotent on upload.id.
        video = await VideoRepository(session).add(Video(tenant_id=upload.tenant_id,
            id=upload.id, object_key=upload.object_key, name=upload.metadata.get("filename")))
        await enqueue(session, "video_processing.probe_video", video.id,
                      tenant_id=upload.tenant_id)

    UPLOADS = TusServer(
        settings=TusSettings(max_size=settings.max_upload_bytes),
        pre_create=check,
        on_complete=completed,
        # authorize=principal_owner (default): the caller of the internal token owns it;
        # sessions/store default to the kit.http runtime (its spec's database and storage).
    )

    # app.py — the routes sit under the public prefix; the gateway forwards /v1/uploads/...
    # unchanged, and Location is built from X-Forwarded-Proto/-Host (-Prefix) it sets.
    app = create_service_app(ServiceSpec(settings, ..., database=DATABASE, storage=StorageSpec(),
                                         body_limits={"/v1/uploads": UPLOADS.settings.max_size}))
    app.router.routes.extend(UPLOADS.routes("/v1/uploads"))

    # tasks.py — expire abandoned uploads (parts, tail and record) on a schedule
    @jobs.task(cron="*/15 * * * *")
    async def sweep_uploads(job: JobContext) -> None:
        await UPLOADS.uploads(job.sessions, storage).sweep()

``TusServer`` is also a plain ASGI app (``Mount("/v1/uploads", app=UPLOADS)``) and takes
``sessions=``/``store=`` callables (request -> backend) for hosts that are not kit.http apps.
"""

from v100.kit.tus._errors import (
    ChecksumMismatch,
    InvalidTusRequest,
    OffsetMismatch,
    TusUploadNotFound,
    TusVersionUnsupported,
    UploadCompleted,
    UploadGone,
    UploadLocked,
    UploadTooLarge,
)
from v100.kit.tus._server import (
    EXPOSED_HEADERS,
    TUS_EXTENSIONS,
    TUS_VERSION,
    Authorize,
    TusServer,
    principal_owner,
    runtime_sessions,
    runtime_store,
)
from v100.kit.tus._settings import TusSettings
from v100.kit.tus._table import TUS_TABLE, TusUpload, UploadStatus, add_tus_table
from v100.kit.tus._uploads import (
    NewUpload,
    OnComplete,
    PreCreate,
    SweepResult,
    TusUploads,
    UploadOwner,
)

__all__ = [
    "EXPOSED_HEADERS",
    "TUS_EXTENSIONS",
    "TUS_TABLE",
    "TUS_VERSION",
    "Authorize",
    "ChecksumMismatch",
    "InvalidTusRequest",
    "NewUpload",
    "OffsetMismatch",
    "OnComplete",
    "PreCreate",
    "SweepResult",
    "TusServer",
    "TusSettings",
    "TusUpload",
    "TusUploadNotFound",
    "TusUploads",
    "TusVersionUnsupported",
    "UploadCompleted",
    "UploadGone",
    "UploadLocked",
    "UploadOwner",
    "UploadStatus",
    "UploadTooLarge",
    "add_tus_table",
    "principal_owner",
    "runtime_sessions",
    "runtime_store",
]
