"""The directory of the embedded mode: dicts in this process, shared by every app of it (as the
in-process bus is), so two apps in one process behave as two replicas."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from v100.services.meeting_signaling.directory import Directory, Gap, Member

__all__ = ["MemoryDirectory"]


@dataclass
class _State:
    rooms: dict[str, dict[str, Member]] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)
    outboxes: dict[str, deque[tuple[int, str]]] = field(default_factory=dict)
    beats: dict[str, float] = field(default_factory=dict)


_PROCESS = _State()


class MemoryDirectory(Directory):
    def __init__(self, outbox_size: int, state: _State | None = None) -> None:
        self._state = state or _PROCESS
        self._outbox_size = outbox_size

    async def members(self, room: str) -> dict[str, Member]:
        return dict(self._state.rooms.get(room, {}))

    async def member(self, room: str, session_id: str) -> Member | None:
        return self._state.rooms.get(room, {}).get(session_id)

    async def add(self, room: str, member: Member, max_peers: int) -> bool:
        members = self._state.rooms.setdefault(room, {})
        if len(members) >= max_peers:
            return False
        members[member.session_id] = member
        return True

    async def swap(self, room: str, conn: str, member: Member) -> bool:
        members = self._state.rooms.get(room, {})
        current = members.get(member.session_id)
        if current is None or current.conn != conn:
            return False
        members[member.session_id] = member
        return True

    async def remove(self, room: str, member: Member) -> bool:
        members = self._state.rooms.get(room, {})
        current = members.get(member.session_id)
        if current is None or current.conn != member.conn:
            return False
        del members[member.session_id]
        if not members:
            del self._state.rooms[room]
        self._state.seqs.pop(member.session_id, None)
        self._state.outboxes.pop(member.session_id, None)
        return True

    async def append(self, items: Sequence[tuple[str, str]]) -> list[int]:
        seqs = []
        for session_id, message in items:
            seq = self._state.seqs.get(session_id, 0) + 1
            self._state.seqs[session_id] = seq
            box = self._state.outboxes.get(session_id)
            if box is None:
                box = self._state.outboxes[session_id] = deque(maxlen=self._outbox_size)
            box.append((seq, message))
            seqs.append(seq)
        return seqs

    async def relay(self, room: str, session_id: str, message: str) -> tuple[Member, int] | None:
        member = self._state.rooms.get(room, {}).get(session_id)
        if member is None:
            return None
        [seq] = await self.append([(session_id, message)])
        return member, seq

    async def since(self, session_id: str, last_seq: int) -> list[tuple[int, str]]:
        box = self._state.outboxes.get(session_id) or deque()
        if box and box[0][0] > last_seq + 1:
            raise Gap(session_id)
        return [(seq, message) for seq, message in box if seq > last_seq]

    async def beat(self, replica: str, now: float, rooms: Sequence[str]) -> None:
        self._state.beats[replica] = now

    async def beats(self, replicas: Sequence[str]) -> dict[str, float]:
        return {r: self._state.beats[r] for r in replicas if r in self._state.beats}

    async def close(self) -> None:
        return None
