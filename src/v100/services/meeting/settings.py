"""meeting's own settings (prefix ``V100_MEETING_``)."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from v100.contracts.topology import service_info
from v100.kit.settings import ServiceSettings


class MeetingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_MEETING_", extra="ignore")
    service: ClassVar[str] = "meeting"
    port: int = 3005

    # How long a meeting token lives when its request names no ``ttl_seconds``.
    token_ttl_seconds: int = Field(default=6 * 3600, ge=60)
    # The longest a request may ask for (a token cannot be revoked by expiry sooner than this;
    # removal revokes it at once).
    max_token_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # A meeting's ``max_participants`` when its request names none, and the highest it may ask.
    default_max_participants: int = Field(default=100, ge=1)
    max_participants_limit: int = Field(default=1000, ge=1)
    # Breakout rooms a meeting may have open at once.
    max_breakout_rooms: int = Field(default=50, ge=1)
    # Where recording_processor answers (a recording's media: docs/adr/0057).
    recording_processor_url: str = service_info("recording_processor").url
    # A room whose participants exceed this goes through the SFU (Janus, ``V100_JANUS_URL``),
    # and stays there until it empties (ADR 0058); unset Janus: it stays peer-to-peer.
    sfu_threshold: int = Field(default=4, ge=1, le=1000)
    # The SFU room's cap on publishers (Janus's ``publishers``).
    sfu_max_publishers: int = Field(default=100, ge=2, le=1000)
