"""Row identifiers and clock: UUIDv7 strings (RFC 9562), which sort by creation time, so a
primary key doubles as a stable pagination key, and the one ``utcnow`` every timestamp uses."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import UTC, datetime

__all__ = ["new_id", "utcnow"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> str:
    """A UUIDv7 as its 36-character string; strictly increasing within this process.

    The 12 ``rand_a`` bits hold a counter seeded randomly each millisecond (RFC 9562, method 1),
    so ids made in the same millisecond still sort in the order they were made.
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            # Seed in the lower half so a burst within one millisecond has room to count up.
            _counter = int.from_bytes(os.urandom(2)) & 0x7FF
        else:
            _counter += 1
            if _counter > 0xFFF:
                # 4096 ids in one millisecond: borrow the next millisecond rather than repeat.
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    rand_b = int.from_bytes(os.urandom(8)) & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def utcnow() -> datetime:
    return datetime.now(UTC)
