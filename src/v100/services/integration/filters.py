"""Which events an endpoint takes: its patterns are event types (``video.ready``), a prefix
wildcard over whole segments (``video.*`` is every ``video.`` type at any depth, ``*`` is
everything); an endpoint without patterns takes every event."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["PATTERN", "matches"]

# A type, or segments ending in ``*``.
PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z0-9_]+)*(\.\*)?)$")


def matches(patterns: Sequence[str], event_type: str) -> bool:
    if not patterns:
        return True
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False
