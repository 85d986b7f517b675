"""The store of the embedded mode: dicts in this process, shared by every app of it (as the
in-process bus is), so two apps in one process behave as two replicas."""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass, field

from v100.services.realtime.store import (
    Entry,
    Numbered,
    Store,
    check_since,
    joined,
    left,
    updated,
)

__all__ = ["MemoryStore"]


@dataclass
class _Room:
    log: deque[Numbered]
    seq: int = 0
    participants: dict[str, Entry] = field(default_factory=dict)
    expires: dict[str, float] = field(default_factory=dict)
    relayed: set[str] = field(default_factory=set)

    def append(self, body: str) -> list[Numbered]:
        self.seq += 1
        self.log.append((self.seq, body))
        return [(self.seq, body)]


_PROCESS: dict[str, _Room] = {}


class MemoryStore(Store):
    def __init__(self, log_size: int, rooms: dict[str, _Room] | None = None) -> None:
        self._rooms = _PROCESS if rooms is None else rooms
        self._log_size = log_size

    def _room(self, room: str) -> _Room:
        found = self._rooms.get(room)
        if found is None:
            found = self._rooms[room] = _Room(deque(maxlen=self._log_size))
        return found

    async def join(self, room: str, participant: Entry, expires_at: float) -> list[Numbered]:
        state = self._room(room)
        pid = participant["participant_id"]
        state.expires[pid] = expires_at
        if pid in state.participants:
            return []
        state.participants[pid] = copy.deepcopy(participant)
        return state.append(joined(participant))

    async def update(
        self, room: str, participant_id: str, changes: dict[str, bool]
    ) -> list[Numbered]:
        state = self._room(room)
        participant = state.participants.get(participant_id)
        if participant is None:
            return []
        changed = {k: v for k, v in changes.items() if participant["state"].get(k) != v}
        if not changed:
            return []
        participant["state"].update(changed)
        return state.append(updated(participant_id, changed))

    async def leave(self, room: str, participant_id: str, reason: str) -> list[Numbered]:
        state = self._room(room)
        state.expires.pop(participant_id, None)
        if state.participants.pop(participant_id, None) is None:
            return []
        return state.append(left(participant_id, reason))

    async def expire(self, room: str, now: float) -> list[Numbered]:
        state = self._room(room)
        gone = sorted(pid for pid, at in state.expires.items() if at <= now)
        appended: list[Numbered] = []
        for pid in gone:
            appended += await self.leave(room, pid, "expired")
        return appended

    async def relay(self, room: str, key: str, body: str) -> list[Numbered]:
        state = self._room(room)
        if key in state.relayed:
            return []
        state.relayed.add(key)
        return state.append(body)

    async def say(self, room: str, body: str) -> list[Numbered]:
        return self._room(room).append(body)

    async def head(self, room: str) -> int:
        return self._room(room).seq

    async def snapshot(self, room: str) -> tuple[int, list[Entry]]:
        state = self._room(room)
        return state.seq, copy.deepcopy(list(state.participants.values()))

    async def since(self, room: str, seq: int) -> list[Numbered]:
        state = self._room(room)
        return check_since(seq, state.seq, list(state.log))

    async def release(self, room: str) -> None:
        state = self._rooms.get(room)
        if state is not None and not state.participants:
            del self._rooms[room]

    async def close(self) -> None:
        return None
