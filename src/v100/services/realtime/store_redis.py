"""The store on Redis, shared by every replica. Keys under ``v100:realtime:``, per room:
``seq:<room>`` (its last ``seq``), ``log:<room>`` (a capped list of ``"<seq> <message>"``),
``people:<room>`` (a hash: participant id -> entry), ``expires:<room>`` (a sorted set:
participant id by the time its presence expires), ``relayed:<room>`` (the meeting events'
sequences relayed). Each change is one Lua script: the state, the sequence number and the log
move together, whichever replica makes it."""

from __future__ import annotations

from typing import Any

import orjson

from v100.kit._redis import connect, unavailable
from v100.services.realtime.store import Entry, Numbered, Store, check_since, joined, left

__all__ = ["RedisStore"]

_PREFIX = "v100:realtime:"
# A room's keys outlive their last change by this much (a meeting nobody is in any more).
_IDLE_TTL = 24 * 3600
_POOL_SIZE = 32
_KINDS = ("seq", "log", "people", "expires", "relayed")

# KEYS: the room's keys in _KINDS order; ARGV[1]: log size, ARGV[2]: idle TTL.
_APPEND = """
local function append(out, body)
  local seq = redis.call('INCR', KEYS[1])
  redis.call('RPUSH', KEYS[2], seq .. ' ' .. body)
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[1]), -1)
  table.insert(out, seq)
  table.insert(out, body)
end
local function touch()
  for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
end
local out = {}
"""
# ARGV[3]: participant id, ARGV[4]: expires at, ARGV[5]: entry, ARGV[6]: participant.joined.
_JOIN = (
    _APPEND
    + """
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
if redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[5]) == 1 then append(out, ARGV[6]) end
touch()
return out
"""
)
# ARGV[3]: participant id, ARGV[4]: the changes (a JSON object of booleans).
_UPDATE = (
    _APPEND
    + """
local current = redis.call('HGET', KEYS[3], ARGV[3])
if not current then return out end
local entry = cjson.decode(current)
local changed, count = {}, 0
for name, value in pairs(cjson.decode(ARGV[4])) do
  if entry['state'][name] ~= value then
    entry['state'][name] = value
    changed[name] = value
    count = count + 1
  end
end
if count == 0 then return out end
redis.call('HSET', KEYS[3], ARGV[3], cjson.encode(entry))
append(out, cjson.encode({type = 'participant.updated', participant_id = ARGV[3],
                          changes = changed}))
touch()
return out
"""
)
# ARGV[3]: participant id, ARGV[4]: participant.left.
_LEAVE = (
    _APPEND
    + """
redis.call('ZREM', KEYS[4], ARGV[3])
if redis.call('HDEL', KEYS[3], ARGV[3]) == 1 then append(out, ARGV[4]) end
return out
"""
)
# ARGV[3]: now.
_EXPIRE = (
    _APPEND
    + """
for _, pid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[3])) do
  redis.call('ZREM', KEYS[4], pid)
  if redis.call('HDEL', KEYS[3], pid) == 1 then
    append(out, cjson.encode({type = 'participant.left', participant_id = pid,
                              reason = 'expired'}))
  end
end
return out
"""
)
# ARGV[3]: the meeting event's key, ARGV[4]: the message.
_RELAY = (
    _APPEND
    + """
if redis.call('SADD', KEYS[5], ARGV[3]) == 1 then append(out, ARGV[4]) end
touch()
return out
"""
)
# ARGV[3]: the message.
_SAY = (
    _APPEND
    + """
append(out, ARGV[3])
touch()
return out
"""
)
# KEYS: seq and log (or people); ARGV[1]: which.
_READ = """
local head = redis.call('GET', KEYS[1]) or '0'
if ARGV[1] == 'log' then return {head, redis.call('LRANGE', KEYS[2], 0, -1)} end
return {head, redis.call('HVALS', KEYS[2])}
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _pairs(flat: list[Any]) -> list[Numbered]:
    return [(int(flat[i]), _text(flat[i + 1])) for i in range(0, len(flat), 2)]


class RedisStore(Store):
    def __init__(self, url: str, log_size: int) -> None:
        self._redis = connect(url, pool_size=_POOL_SIZE)
        self._log_size = log_size
        self._join: Any = self._redis.register_script(_JOIN)
        self._update: Any = self._redis.register_script(_UPDATE)
        self._leave: Any = self._redis.register_script(_LEAVE)
        self._expire: Any = self._redis.register_script(_EXPIRE)
        self._relay: Any = self._redis.register_script(_RELAY)
        self._say: Any = self._redis.register_script(_SAY)
        self._read: Any = self._redis.register_script(_READ)

    async def _run(self, script: Any, room: str, *args: Any) -> list[Numbered]:
        keys = [f"{_PREFIX}{kind}:{room}" for kind in _KINDS]
        async with unavailable("realtime store"):
            flat = await script(keys=keys, args=[self._log_size, _IDLE_TTL, *args])
        return _pairs(flat)

    async def join(self, room: str, participant: Entry, expires_at: float) -> list[Numbered]:
        pid = participant["participant_id"]
        return await self._run(
            self._join, room, pid, repr(expires_at), orjson.dumps(participant), joined(participant)
        )

    async def update(
        self, room: str, participant_id: str, changes: dict[str, bool]
    ) -> list[Numbered]:
        return await self._run(self._update, room, participant_id, orjson.dumps(changes))

    async def leave(self, room: str, participant_id: str, reason: str) -> list[Numbered]:
        return await self._run(self._leave, room, participant_id, left(participant_id, reason))

    async def expire(self, room: str, now: float) -> list[Numbered]:
        return await self._run(self._expire, room, repr(now))

    async def relay(self, room: str, key: str, body: str) -> list[Numbered]:
        return await self._run(self._relay, room, key, body)

    async def _read_room(self, room: str, kind: str) -> tuple[int, list[Any]]:
        keys = [f"{_PREFIX}seq:{room}", f"{_PREFIX}{kind}:{room}"]
        async with unavailable("realtime store"):
            head, items = await self._read(keys=keys, args=[kind])
        return int(head), items

    async def say(self, room: str, body: str) -> list[Numbered]:
        return await self._run(self._say, room, body)

    async def head(self, room: str) -> int:
        async with unavailable("realtime store"):
            head = await self._redis.get(f"{_PREFIX}seq:{room}")
        return int(head or 0)

    async def snapshot(self, room: str) -> tuple[int, list[Entry]]:
        head, entries = await self._read_room(room, "people")
        return head, [orjson.loads(entry) for entry in entries]

    async def since(self, room: str, seq: int) -> list[Numbered]:
        head, raw = await self._read_room(room, "log")
        log = []
        for item in raw:
            number, _, message = _text(item).partition(" ")
            log.append((int(number), message))
        return check_since(seq, head, log)

    async def release(self, room: str) -> None:
        return None

    async def close(self) -> None:
        await self._redis.aclose()
