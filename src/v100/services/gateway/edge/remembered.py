"""What the bytes of a request head alone decide, remembered for the next time the same bytes
come (clients repeat their requests byte for byte), within a bound on memory: a dict whose
misses parse, and which starts over once the heads it holds reach ``budget`` bytes (about 10,000
typical API requests at 4 MiB). A hit is a plain dict lookup."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Remembered"]

T = TypeVar("T")
BUDGET = 4 * 1024 * 1024


class Remembered(dict[bytes, T], Generic[T]):
    def __init__(self, parse: Callable[[bytes], T], budget: int = BUDGET) -> None:
        super().__init__()
        self._parse = parse
        self._budget = budget
        self._bytes = 0

    @property
    def held_bytes(self) -> int:
        """The bytes of the heads held now (at most ``budget``)."""
        return self._bytes

    def __missing__(self, head: bytes) -> T:
        if self._bytes + len(head) > self._budget:
            self.clear()  # rare; parsing again is cheap
            self._bytes = 0
        self[head] = parsed = self._parse(head)
        self._bytes += len(head)
        return parsed
