"""video_analysis's own settings (prefix ``V100_VIDEO_ANALYSIS_``)."""

import os
from typing import ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from v100.contracts.topology import service_info
from v100.kit.settings import ServiceSettings


def _cores() -> int:
    return os.cpu_count() or 1


class VideoAnalysisSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_VIDEO_ANALYSIS_", extra="ignore")
    service: ClassVar[str] = "video_analysis"
    port: int = 3020

    # Analyses one process runs at once (its job slots; each runs one stage at a time in a
    # thread). Default: the machine's cores (the seed ran 16 on its hardware).
    workers: int = Field(default_factory=_cores, ge=1, le=256)
    # Scene detection's threshold (scdet's unit: percent of full scale) when neither the
    # request nor the tenant's settings name one.
    scene_threshold: float = Field(default=5.0, ge=0.5, le=50.0)
    # Face samples a second (FaceTracker) and mouth samples a second (active speaker, motion).
    face_sample_rate: float = Field(default=2.0, gt=0.0, le=25.0)
    motion_sample_rate: float = Field(default=8.0, gt=0.0, le=25.0)
    # The step of the loudness, energy and motion curves, in seconds.
    curve_interval: float = Field(default=0.5, ge=0.1, le=10.0)
    # Longer videos are refused (the analysis fails ``video-too-long``) before credits are held.
    max_video_seconds: float = Field(default=4 * 3600.0, gt=0)
    # How long a keyframe's presigned link lasts.
    download_url_seconds: int = Field(default=3600, ge=60, le=7 * 86_400)
    # Where video_processing (the video) and transcription (its transcript) are.
    video_processing_url: str = service_info("video_processing").url
    transcription_url: str = service_info("transcription").url
    # How long the transcript stage waits for a transcript it asked for, in seconds.
    transcript_wait_seconds: float = Field(default=1800.0, ge=1.0, le=4 * 3600.0)
    # Billing: analyses hold credits per started minute of video (docs/video-analysis.md).
    billing_url: str = service_info("billing").url
    credits_per_minute: int = Field(default=1, ge=0)
    billing_enabled: bool = True
    # A job whose runner stops heartbeating this long is run again (a killed worker).
    job_lease_seconds: float = Field(default=120.0, ge=1.0, le=3600.0)
    # The LLM that refines the highlights' text factors and writes their titles, descriptions
    # and hashtags: the operator's provider and key (as rag_engine's). None: the local scores
    # stand, and the highlights say so.
    llm_provider: Literal["anthropic", "openai", "gemini"] | None = None
    llm_api_key: SecretStr | None = None
    # Where the provider's API is (an OpenAI-compatible server; tests point it at a fake).
    llm_base_url: str | None = None
    llm_model: str | None = None  # None: the provider's default (``chat_model.DEFAULT_MODELS``)
    llm_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    # The tenant pays the highlights' LLM tokens: credits per 1,000 read and written
    # (ai_orchestration's default rates); 0 and 0, or billing off: not charged.
    llm_credits_per_1k_input: float = Field(default=1.0, ge=0, le=10_000)
    llm_credits_per_1k_output: float = Field(default=4.0, ge=0, le=10_000)
