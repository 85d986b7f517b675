"""One joined socket as this replica holds it (``kit.room_socket.RoomSocket``: its outgoing
queue, its message budget, the last room ``seq`` it was sent), and whose it is."""

from __future__ import annotations

from starlette.websockets import WebSocket

from v100.kit.room_socket import RoomSocket, numbered
from v100.services.realtime.protocol import CLOSE_LAGGING
from v100.services.realtime.store import Room

__all__ = ["Connection", "numbered"]


class Connection(RoomSocket):
    __slots__ = ("participant_id",)

    def __init__(
        self,
        websocket: WebSocket,
        room: Room,
        participant_id: str,
        *,
        queue_size: int,
        rate_per_second: float,
        burst: int,
    ) -> None:
        super().__init__(
            websocket, room, queue_size=queue_size, rate_per_second=rate_per_second,
            burst=burst, lagging=(CLOSE_LAGGING, "lagging: reconnect with since"),
        )  # fmt: skip
        self.participant_id = participant_id
        self.start()
