"""A body received into the store under a size limit and digested (SHA-256) as it passes: one
declared or found too large, or empty, is refused and leaves nothing stored. The services that
take uploads (rag_engine's sources, transcription's files) turn the refusals into their own
problems."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from v100.kit.storage._base import ObjectStore

__all__ = ["BodyTooLarge", "EmptyBody", "ReceivedObject", "receive_bounded"]


@dataclass(frozen=True, slots=True)
class ReceivedObject:
    key: str
    size: int
    sha256: str
    content_type: str | None


class BodyTooLarge(Exception):
    """More than ``limit`` bytes: ``declared`` when the sender said so up front, else None
    (found while the body arrived)."""

    def __init__(self, limit: int, declared: int | None) -> None:
        super().__init__(f"over {limit} bytes (declared {declared})")
        self.limit = limit
        self.declared = declared

    def said_of(self, what: str) -> str:
        """The refusal in words, ``what`` naming the thing ("A file")."""
        if self.declared is None:
            return f"{what} takes at most {self.limit} bytes."
        return f"{what} takes at most {self.limit} bytes; this one declares {self.declared}."


class EmptyBody(Exception):
    """Nothing at all arrived."""


async def receive_bounded(
    store: ObjectStore,
    key: str,
    body: AsyncIterator[bytes],
    *,
    limit: int,
    declared_length: int | None,
    content_type: str | None,
) -> ReceivedObject:
    """Stream ``body`` into ``store`` under ``key``: over ``limit`` (declared or found) is
    ``BodyTooLarge``, nothing at all ``EmptyBody``; nothing is kept on a refusal."""
    if declared_length is not None and declared_length > limit:
        raise BodyTooLarge(limit, declared_length)
    digest = hashlib.sha256()
    received = 0

    async def bounded() -> AsyncIterator[bytes]:
        nonlocal received
        async for chunk in body:
            received += len(chunk)
            if received > limit:
                raise BodyTooLarge(limit, None)
            digest.update(chunk)
            yield chunk

    stored = await store.put(key, bounded(), content_type)
    if stored.size == 0:
        await store.delete(key)
        raise EmptyBody
    return ReceivedObject(key, stored.size, digest.hexdigest(), content_type)
