"""recording_processor's own settings (prefix ``V100_RECORDING_PROCESSOR_``)."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings
from v100.kit.storage import MAX_EXPIRES_IN, MIN_PART_SIZE

MiB = 1024 * 1024


class RecordingProcessorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_RECORDING_PROCESSOR_", extra="ignore")
    service: ClassVar[str] = "recording_processor"
    port: int = 3012

    # The largest recording accepted, enforced while the body streams in (413 beyond).
    max_recording_bytes: int = Field(default=500 * MiB, ge=1)
    # Bytes buffered before each multipart part goes to storage: memory per upload is about
    # one part (S3 wants 5 MiB at least; 500 MiB / 8 MiB = 63 parts, far below 10,000).
    part_size: int = Field(default=8 * MiB, ge=MIN_PART_SIZE)
    # The MP4 is never taller than this (None: the source's height); never upscaled.
    max_height: int | None = Field(default=1080, ge=144)
    # Where the thumbnail is taken (the middle of a shorter recording).
    thumbnail_at: float = Field(default=5.0, ge=0)
    # How long presigned download links stay valid.
    download_url_seconds: int = Field(default=3600, ge=60, le=MAX_EXPIRES_IN)
    # A job runner that stops heartbeating for this long is presumed dead; its job is retried.
    job_lease_seconds: float = Field(default=60.0, ge=1)
    # A WebSocket client re-reads the recording this often when no message came, so a
    # progress message lost on the way (pub/sub keeps nothing) never leaves it waiting.
    progress_poll_seconds: float = Field(default=5.0, gt=0)
    # The object store's second line against leaked parts (tasks.sweep_orphaned_uploads, hourly,
    # store-wide: every service's uploads): a multipart upload nothing was written to for this
    # long is aborted. Keep it far beyond the longest pause of a legitimate upload: a tus
    # upload's expiry and a media assembly's time to live (24 h each by default).
    orphaned_upload_seconds: int = Field(default=7 * 24 * 3600, ge=3600)
    # How long a meeting recording's upload capability (its signed tus URL) admits the
    # recording page's chunks: the longest meeting one recording may span. The tus upload
    # itself expires after ``meeting_upload_idle_seconds`` without a chunk.
    upload_url_seconds: int = Field(default=24 * 3600, ge=60, le=7 * 24 * 3600)
    meeting_upload_idle_seconds: int = Field(default=24 * 3600, ge=60)
