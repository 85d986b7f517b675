"""The directory on Redis, shared by every replica. Keys under ``v100:meeting_signaling:``:
``room:<key>`` (a hash: session id -> entry), ``seq:<session>`` and ``out:<session>`` (a
counter and a capped list of ``"<seq> <message>"``), ``beat:<replica>`` (its last heartbeat).
Each change that must be atomic (a room's size, compare-and-set on the socket id, a sequence
number with its message) is one Lua script."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from v100.kit._redis import connect, unavailable
from v100.services.meeting_signaling.directory import Directory, Gap, Member

__all__ = ["RedisDirectory"]

_PREFIX = "v100:meeting_signaling:"
# A room's hash and a session's outbox outlive their last write by this much (a room nobody
# holds a socket in any more, or an outbox of a session whose room was lost with Redis).
_IDLE_TTL = 24 * 3600

# Connections to Redis a replica uses for the directory; a burst of joins waits for one.
_POOL_SIZE = 32

_ADD = """
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""
_SWAP = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current or cjson.decode(current)['conn'] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""
_REMOVE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current or cjson.decode(current)['conn'] ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
"""
_NUMBERED = """
local seq = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], seq .. ' ' .. ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
"""
_APPEND = _NUMBERED + "return seq"
_RELAY = (
    """
local member = redis.call('HGET', KEYS[3], ARGV[4])
if not member then return false end
"""
    + _NUMBERED
    + "return {member, seq}"
)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisDirectory(Directory):
    def __init__(self, url: str, outbox_size: int, beat_ttl_seconds: int) -> None:
        self._redis = connect(url, pool_size=_POOL_SIZE)
        self._outbox_size = outbox_size
        self._beat_ttl = beat_ttl_seconds
        self._add: Any = self._redis.register_script(_ADD)
        self._swap: Any = self._redis.register_script(_SWAP)
        self._remove: Any = self._redis.register_script(_REMOVE)
        self._append: Any = self._redis.register_script(_APPEND)
        self._relay: Any = self._redis.register_script(_RELAY)

    @staticmethod
    def _room(room: str) -> str:
        return f"{_PREFIX}room:{room}"

    async def members(self, room: str) -> dict[str, Member]:
        async with unavailable("signaling directory"):
            entries = await self._redis.hgetall(self._room(room))
        return {_text(key): Member.decode(value) for key, value in entries.items()}

    async def member(self, room: str, session_id: str) -> Member | None:
        async with unavailable("signaling directory"):
            entry = await self._redis.hget(self._room(room), session_id)
        return None if entry is None else Member.decode(entry)

    async def add(self, room: str, member: Member, max_peers: int) -> bool:
        async with unavailable("signaling directory"):
            added = await self._add(
                keys=[self._room(room)],
                args=[member.session_id, member.encode(), max_peers, _IDLE_TTL],
            )
        return bool(added)

    async def swap(self, room: str, conn: str, member: Member) -> bool:
        async with unavailable("signaling directory"):
            swapped = await self._swap(
                keys=[self._room(room)], args=[member.session_id, conn, member.encode()]
            )
        return bool(swapped)

    async def remove(self, room: str, member: Member) -> bool:
        sid = member.session_id
        async with unavailable("signaling directory"):
            removed = await self._remove(
                keys=[self._room(room), f"{_PREFIX}seq:{sid}", f"{_PREFIX}out:{sid}"],
                args=[sid, member.conn],
            )
        return bool(removed)

    async def append(self, items: Sequence[tuple[str, str]]) -> list[int]:
        if not items:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for sid, message in items:
            await self._append(
                keys=[f"{_PREFIX}seq:{sid}", f"{_PREFIX}out:{sid}"],
                args=[message, self._outbox_size, _IDLE_TTL],
                client=pipe,
            )
        async with unavailable("signaling directory"), pipe:
            seqs = await pipe.execute()
        return [int(seq) for seq in seqs]

    async def relay(self, room: str, session_id: str, message: str) -> tuple[Member, int] | None:
        keys = [f"{_PREFIX}seq:{session_id}", f"{_PREFIX}out:{session_id}", self._room(room)]
        async with unavailable("signaling directory"):
            found = await self._relay(
                keys=keys, args=[message, self._outbox_size, _IDLE_TTL, session_id]
            )
        if not found:
            return None
        entry, seq = found
        return Member.decode(entry), int(seq)

    async def since(self, session_id: str, last_seq: int) -> list[tuple[int, str]]:
        async with unavailable("signaling directory"):
            raw = await self._redis.lrange(f"{_PREFIX}out:{session_id}", 0, -1)
        entries = []
        for item in raw:
            seq, _, message = _text(item).partition(" ")
            entries.append((int(seq), message))
        if entries and entries[0][0] > last_seq + 1:
            raise Gap(session_id)
        return [(seq, message) for seq, message in entries if seq > last_seq]

    async def beat(self, replica: str, now: float, rooms: Sequence[str]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(f"{_PREFIX}beat:{replica}", repr(now), ex=self._beat_ttl)
        for room in rooms:
            pipe.expire(self._room(room), _IDLE_TTL)
        async with unavailable("signaling directory"), pipe:
            await pipe.execute()

    async def beats(self, replicas: Sequence[str]) -> dict[str, float]:
        if not replicas:
            return {}
        async with unavailable("signaling directory"):
            values = await self._redis.mget([f"{_PREFIX}beat:{r}" for r in replicas])
        return {r: float(v) for r, v in zip(replicas, values, strict=True) if v is not None}

    async def close(self) -> None:
        await self._redis.aclose()
