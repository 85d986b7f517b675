"""One joined socket as this replica holds it (``kit.room_socket.RoomSocket``: its outgoing
queue, its message budget; messages held until the join answer and the resume replay are out),
its session, and the pings it owes."""

from __future__ import annotations

from starlette.websockets import WebSocket

from v100.kit.room_socket import RoomSocket, numbered
from v100.services.meeting_signaling.directory import Member
from v100.services.meeting_signaling.protocol import CLOSE_LAGGING

__all__ = ["Connection", "numbered"]


class Connection(RoomSocket):
    __slots__ = ("member", "ping_id", "ping_sent_at", "rtt_ms", "unanswered")

    def __init__(
        self,
        websocket: WebSocket,
        room: str,
        member: Member,
        *,
        queue_size: int,
        rate_per_second: float,
        burst: int,
    ) -> None:
        super().__init__(
            websocket, room, queue_size=queue_size, rate_per_second=rate_per_second,
            burst=burst, lagging=(CLOSE_LAGGING, "lagging: resume to catch up"),
        )  # fmt: skip
        self.member = member
        self.ping_id = 0
        self.ping_sent_at = 0.0
        self.unanswered = 0
        self.rtt_ms: float | None = None

    @property
    def session_id(self) -> str:
        return self.member.session_id

    def start(self, name: str | None = None) -> None:
        super().start(name or f"signaling:{self.session_id}")
