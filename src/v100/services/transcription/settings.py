"""transcription's own settings (prefix ``V100_TRANSCRIPTION_``)."""

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from v100.ai.asr import DEEPGRAM_API_URL
from v100.contracts.topology import service_info
from v100.kit.settings import ServiceSettings

MiB = 1024 * 1024


class TranscriptionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_TRANSCRIPTION_", extra="ignore")
    service: ClassVar[str] = "transcription"
    port: int = 3003

    # The largest file a transcript takes, uploaded (413 while it streams in) or fetched from
    # a URL (the transcript fails ``url-too-large``).
    max_source_bytes: int = Field(default=2 * 1024 * MiB, ge=1)
    # Longer audio is refused (the transcript fails ``source-too-long``) before credits are held.
    max_audio_seconds: float = Field(default=4 * 3600.0, gt=0)
    # Networks a URL source may reach although they are not public (a self-hoster's own media
    # server; loopback in tests). Empty: only public addresses.
    url_allow_cidrs: list[str] = Field(default_factory=list)
    # The backend used when a request names none: a name from ``backends.BACKENDS``.
    default_backend: str = "local"
    # Per-tenant default backend (tenant id -> backend name), set by the operator.
    tenant_backends: dict[str, str] = Field(default_factory=dict)
    # Where the local backend's joined model weights are kept (None: <V100_VAR_DIR>/models).
    model_dir: Path | None = None
    # Find speakers with the local diarizer (the ``diarization`` extra: resemblyzer on torch)
    # where it is installed. False: only a backend that finds them itself (Deepgram) does.
    local_diarization: bool = True
    # Deepgram (backend "deepgram", nova-2): unset, that backend answers 501 not-configured.
    deepgram_api_key: SecretStr | None = None
    # Where Deepgram's API is (tests point it at a local fake).
    deepgram_api_url: str = DEEPGRAM_API_URL
    # Where video_processing is: a stored video's audio is read from it, and the captions of a
    # video's automatic transcript are attached to it (contracts/videos.py).
    video_processing_url: str = service_info("video_processing").url
    # Billing: transcripts hold credits per started minute of audio (docs/transcription.md).
    billing_url: str = service_info("billing").url
    credits_per_minute: int = Field(default=1, ge=0)
    billing_enabled: bool = True
    # A job whose runner stops heartbeating this long is run again (a killed worker).
    job_lease_seconds: float = Field(default=120.0, ge=1.0, le=3600.0)

    # Live sessions (/v1/transcription-sessions, docs/transcription.md "Live sessions").
    # A stream with no audio and no KeepAlive for this long is closed (a session may ask for
    # another, at most ``live_max_idle_timeout``).
    live_idle_timeout: float = Field(default=10.0, ge=1.0, le=300.0)
    live_max_idle_timeout: float = Field(default=60.0, ge=1.0, le=300.0)
    # Sessions a tenant may have open at once (created and not yet connected, or streaming).
    live_max_sessions_per_tenant: int = Field(default=4, ge=1, le=1000)
    # Streams one process serves at once (the local model decodes on one thread).
    live_max_streams: int = Field(default=16, ge=1, le=10_000)
    # A created session must connect within this long, or it is closed ``never-connected``.
    live_connect_within: float = Field(default=300.0, ge=1.0, le=86_400.0)
    # The longest a stream stays open, KeepAlive or not (its audio is also bounded by
    # ``max_audio_seconds``).
    live_max_session_seconds: float = Field(default=4 * 3600.0, ge=1.0, le=7 * 86_400.0)
    # How often a stream writes its progress (and notices a stop asked on another instance);
    # a streaming session silent for ten of these is failed ``abandoned`` by the sweep.
    live_heartbeat_seconds: float = Field(default=2.0, ge=0.1, le=60.0)
    # How long POST .../stop waits for the stream to end before it answers.
    live_stop_wait_seconds: float = Field(default=10.0, ge=0.0, le=60.0)
