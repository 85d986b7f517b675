"""Each room's state, shared by every replica: its participants (who, and their speaking, hand
raised, mic, cam and screen), when each one's presence expires (its last heartbeat plus the
allowance), and the room's log: every message about the room numbered from 1, the last
``log_size`` kept for a reconnect with ``since``. In-process for the embedded mode
(store_memory.py), in Redis for the distributed one (store_redis.py, one Lua script a change).

Every change that tells the room something returns the numbered messages it appended, so the
caller publishes exactly what happened: a join of someone already present, a leave of someone
gone, a state that did not change, a meeting event relayed already append nothing (idempotent;
two replicas relaying the same meeting event append it once). Nothing here outlives a meeting,
so nothing is in the database (ADR 0054)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "STATE_FIELDS",
    "Entry",
    "Gap",
    "Numbered",
    "Room",
    "Store",
    "chat",
    "check_since",
    "entry",
    "joined",
    "left",
    "updated",
]

STATE_FIELDS = ("speaking", "hand_raised", "mic", "cam", "screen")

# A participant as the room sees it: participant_id, name, role, state (STATE_FIELDS).
Entry = dict[str, Any]
# A numbered message: its ``seq`` in the room and its body (a JSON object without ``seq``).
Numbered = tuple[int, str]


@dataclass(frozen=True, slots=True)
class Room:
    """One room (``main`` or a breakout room) of one meeting of one tenant: nothing crosses
    between two keys."""

    tenant_id: str
    meeting_id: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.tenant_id}/{self.meeting_id}/{self.name}"


def entry(participant_id: str, name: str, role: str) -> Entry:
    return {
        "participant_id": participant_id,
        "name": name,
        "role": role,
        "state": dict.fromkeys(STATE_FIELDS, False),
    }


def joined(participant: Entry) -> str:
    return orjson.dumps({"type": "participant.joined", "participant": participant}).decode()


def left(participant_id: str, reason: str) -> str:
    body = {"type": "participant.left", "participant_id": participant_id, "reason": reason}
    return orjson.dumps(body).decode()


def updated(participant_id: str, changes: dict[str, bool]) -> str:
    body = {"type": "participant.updated", "participant_id": participant_id, "changes": changes}
    return orjson.dumps(body).decode()


def chat(participant_id: str, name: str, text: str, time: str) -> str:
    body = {"type": "chat", "participant_id": participant_id, "name": name, "text": text,
            "time": time}  # fmt: skip
    return orjson.dumps(body).decode()


class Gap(Exception):
    """The log no longer holds every message after the one asked for."""


class Store(ABC):
    @abstractmethod
    async def join(self, room: str, participant: Entry, expires_at: float) -> list[Numbered]:
        """Present until ``expires_at``; ``participant.joined`` only if it was not present."""

    @abstractmethod
    async def update(
        self, room: str, participant_id: str, changes: dict[str, bool]
    ) -> list[Numbered]:
        """Apply ``changes`` to a present participant; ``participant.updated`` with the fields
        that changed, if any did."""

    @abstractmethod
    async def leave(self, room: str, participant_id: str, reason: str) -> list[Numbered]:
        """No longer present; ``participant.left`` only if it was."""

    @abstractmethod
    async def expire(self, room: str, now: float) -> list[Numbered]:
        """Remove those whose presence expired by ``now``: ``participant.left`` (``expired``)."""

    @abstractmethod
    async def relay(self, room: str, key: str, body: str) -> list[Numbered]:
        """Append ``body`` once for ``key`` (a meeting event's sequence), whoever relays it."""

    @abstractmethod
    async def say(self, room: str, body: str) -> list[Numbered]:
        """Append ``body`` (a chat message) to the room's log."""

    @abstractmethod
    async def head(self, room: str) -> int:
        """The room's last ``seq`` (0 for a room that never had a message)."""

    @abstractmethod
    async def snapshot(self, room: str) -> tuple[int, list[Entry]]:
        """The room's last ``seq`` and its participants then, read together."""

    @abstractmethod
    async def since(self, room: str, seq: int) -> list[Numbered]:
        """The messages after ``seq``, in order; ``Gap`` if some are no longer kept (or ``seq``
        is beyond the room's head: a log that was lost)."""

    @abstractmethod
    async def release(self, room: str) -> None:
        """No socket of this replica is in the room any more: its state may go once nobody is
        present (Redis: it expires a day after its last change)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""


def check_since(seq: int, head: int, log: list[Numbered]) -> list[Numbered]:
    """What ``since`` answers from the room's head and its kept log."""
    if seq > head or (seq < head and (not log or log[0][0] > seq + 1)):
        raise Gap(seq)
    return [item for item in log if item[0] > seq]
