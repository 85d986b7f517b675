"""Who is in each room and what each session missed, shared by every replica: the room's members
(one entry per session: who, on which replica and socket, away since when), each session's
outbox (the last ``outbox_size`` messages sent to it, numbered by ``seq``), and each replica's
heartbeat. In-process for the embedded mode (directory_memory.py), in Redis for the distributed
one (directory_redis.py). Nothing here outlives a meeting, so nothing is in the database
(ADR 0052).

Changes to an entry are compare-and-set on its socket id (``conn``): a socket that was replaced
by a resume elsewhere can no longer mark the session away or remove it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import orjson

__all__ = ["Directory", "Gap", "Member", "room_key"]


def room_key(tenant_id: str, meeting_id: str, room: str) -> str:
    """A room is one room of one meeting of one tenant: nothing crosses between two keys."""
    return f"{tenant_id}/{meeting_id}/{room}"


@dataclass(frozen=True, slots=True)
class Member:
    """One session in a room."""

    session_id: str
    participant_id: str
    name: str
    role: str
    joined_at: float
    replica: str  # the replica holding its socket
    conn: str  # that socket's id
    away_since: float | None = None  # its socket dropped then (None: connected)

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, raw: bytes | str) -> Member:
        return cls(**orjson.loads(raw))

    def away(self, since: float) -> Member:
        return replace(self, away_since=since)

    def back(self, replica: str, conn: str) -> Member:
        return replace(self, replica=replica, conn=conn, away_since=None)


class Gap(Exception):
    """The outbox no longer holds every message after the one asked for."""


class Directory(ABC):
    @abstractmethod
    async def members(self, room: str) -> dict[str, Member]:
        """The room's members by session id."""

    @abstractmethod
    async def member(self, room: str, session_id: str) -> Member | None:
        """One member of the room, if it is one."""

    @abstractmethod
    async def add(self, room: str, member: Member, max_peers: int) -> bool:
        """Add a new session; False when the room already holds ``max_peers``."""

    @abstractmethod
    async def swap(self, room: str, conn: str, member: Member) -> bool:
        """Replace the session's entry if its socket is still ``conn``."""

    @abstractmethod
    async def remove(self, room: str, member: Member) -> bool:
        """Remove the session (and its outbox) if its socket is still ``member.conn``; True for
        the one caller that removed it, who tells the room."""

    @abstractmethod
    async def append(self, items: Sequence[tuple[str, str]]) -> list[int]:
        """Add each ``(session id, message)`` to that session's outbox; their ``seq``."""

    @abstractmethod
    async def relay(self, room: str, session_id: str, message: str) -> tuple[Member, int] | None:
        """Add ``message`` to the outbox of ``session_id`` if it is a member of ``room`` (one
        step, one round trip on Redis): the member and the message's ``seq``, or None."""

    @abstractmethod
    async def since(self, session_id: str, last_seq: int) -> list[tuple[int, str]]:
        """The session's messages after ``last_seq``, in order; ``Gap`` if some were trimmed."""

    @abstractmethod
    async def beat(self, replica: str, now: float, rooms: Sequence[str]) -> None:
        """This replica is alive at ``now`` and holds sockets in ``rooms``."""

    @abstractmethod
    async def beats(self, replicas: Sequence[str]) -> dict[str, float]:
        """The last heartbeat of each replica still known (a dead one's ages, then goes)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""
