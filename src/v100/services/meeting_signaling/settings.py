"""meeting_signaling's own settings (prefix ``V100_MEETING_SIGNALING_``)."""

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from v100.contracts.topology import service_info
from v100.kit.settings import ServiceSettings


class MeetingSignalingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_MEETING_SIGNALING_", extra="ignore")
    service: ClassVar[str] = "meeting_signaling"
    port: int = 3015
    # A dropped session re-presented within this keeps its identity and gets what it missed;
    # past it, it is a new join and the room was told ``peer.left``.
    grace_seconds: float = Field(default=20.0, gt=0, le=600)
    # The server pings every socket this often; a socket that misses ``missed_pings`` pongs in a
    # row is taken for gone (a peer that vanished without closing).
    ping_interval_seconds: float = Field(default=5.0, gt=0, le=60)
    missed_pings: int = Field(default=3, ge=1, le=20)
    # The first message (``join`` with the meeting token) must arrive within this.
    join_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # A text frame longer than this is answered ``message-too-large`` (an SDP is a few KB).
    max_message_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    # Messages a socket may send: a bucket of ``rate_burst`` refilled at ``rate_per_second``;
    # a socket that empties it (a candidate flood) is closed 4429.
    rate_per_second: float = Field(default=50.0, gt=0, le=10_000)
    rate_burst: int = Field(default=200, ge=1, le=100_000)
    # Messages kept per session for a resume (sequence numbers); a session that missed more
    # cannot resume and joins anew.
    outbox_size: int = Field(default=512, ge=16, le=100_000)
    # Sessions in one room at most (a mesh is small; larger rooms go through an SFU).
    max_peers: int = Field(default=50, ge=2, le=10_000)
    # ICE servers handed out in the join answer: STUN urls as they are, TURN urls with
    # credentials of the TURN REST scheme (coturn ``use-auth-secret`` with this secret).
    stun_urls: list[str] = Field(default_factory=list)
    turn_urls: list[str] = Field(default_factory=list)
    turn_secret: SecretStr | None = None
    turn_ttl_seconds: int = Field(default=6 * 3600, ge=60, le=7 * 24 * 3600)
    # How often a replica writes its heartbeat and looks for sessions whose grace ran out.
    sweep_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    # Where meeting answers: every admission asks it where the token's participant stands
    # (joined, in the token's room; docs/adr/0061). Off only in tests of the socket protocol
    # alone: a token would then be let in whatever its holder's standing.
    meeting_url: str = service_info("meeting").url
    check_standing: bool = True
    # A standing that let a socket in is kept this long (a storm of joins asks once); a live
    # event about the participant forgets it at once.
    standing_keep_seconds: float = Field(default=2.0, ge=0, le=60)
