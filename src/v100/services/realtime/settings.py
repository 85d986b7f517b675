"""realtime's own settings (prefix ``V100_REALTIME_``)."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from v100.contracts.topology import service_info
from v100.kit.settings import ServiceSettings


class RealtimeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_REALTIME_", extra="ignore")
    service: ClassVar[str] = "realtime"
    port: int = 3014
    # Clients send a heartbeat this often; a participant with none for ``missed_heartbeats``
    # intervals has gone (a crash, a lost network) and the room is told it left.
    heartbeat_interval_seconds: float = Field(default=5.0, gt=0, le=300)
    missed_heartbeats: int = Field(default=3, ge=1, le=20)
    # The first message (``join`` with the meeting token) must arrive within this.
    join_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Messages kept per room for a reconnect with ``since``; older: a full snapshot instead.
    log_size: int = Field(default=256, ge=16, le=100_000)
    # A socket's send queue: one that reads too slowly is closed 4508 (it reconnects).
    queue_size: int = Field(default=512, ge=16, le=100_000)
    # A text frame longer than this is answered ``message-too-large``.
    max_message_bytes: int = Field(default=4096, ge=256, le=1024 * 1024)
    # Messages a socket may send: a bucket of ``rate_burst`` refilled at ``rate_per_second``
    # (speaking toggles a few times a second at most); a socket that empties it is closed 4429.
    rate_per_second: float = Field(default=20.0, gt=0, le=10_000)
    rate_burst: int = Field(default=60, ge=1, le=100_000)
    # How often a replica looks for expired participants in the rooms it holds sockets in.
    sweep_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    # Where meeting answers: every admission asks it where the token's participant stands
    # (joined, in the token's room; docs/adr/0061). Off only in tests of the socket protocol
    # alone: a token would then be let in whatever its holder's standing.
    meeting_url: str = service_info("meeting").url
    check_standing: bool = True
    # A standing that let a socket in is kept this long (a storm of joins asks once); a live
    # event about the participant forgets it at once.
    standing_keep_seconds: float = Field(default=2.0, ge=0, le=60)
