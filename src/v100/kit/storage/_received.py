"""A body received into the store under a size limit and digested (SHA-256) as it passes: one
declared or found too large, or empty, is refused with the service's own problem
(``UploadRefusals``: rag_engine's sources, transcription's files, media_processor's inputs)
and leaves nothing stored."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from v100.kit.storage._base import ObjectStore

__all__ = ["ReceivedObject", "UploadRefusals", "receive_bounded"]


@dataclass(frozen=True, slots=True)
class ReceivedObject:
    key: str
    size: int
    sha256: str
    content_type: str | None


@dataclass(frozen=True, slots=True)
class UploadRefusals:
    """How a service words the refusals: its problem for a body over the limit (``what``
    names the thing in the sentence: "A file"), and its problem and detail for an empty one."""

    too_large: Callable[[str], Exception]
    what: str
    empty: Callable[[str], Exception]
    empty_detail: str

    def over(self, limit: int, declared: int | None) -> Exception:
        if declared is None:
            return self.too_large(f"{self.what} takes at most {limit} bytes.")
        return self.too_large(
            f"{self.what} takes at most {limit} bytes; this one declares {declared}."
        )


async def receive_bounded(
    store: ObjectStore,
    key: str,
    body: AsyncIterator[bytes],
    *,
    limit: int,
    declared_length: int | None,
    content_type: str | None,
    refusals: UploadRefusals,
) -> ReceivedObject:
    """Stream ``body`` into ``store`` under ``key``: over ``limit`` (declared or found), or
    nothing at all, raises the service's problem from ``refusals``; nothing is kept then."""
    if declared_length is not None and declared_length > limit:
        raise refusals.over(limit, declared_length)
    digest = hashlib.sha256()
    received = 0

    async def bounded() -> AsyncIterator[bytes]:
        nonlocal received
        async for chunk in body:
            received += len(chunk)
            if received > limit:
                raise refusals.over(limit, None)
            digest.update(chunk)
            yield chunk

    try:
        stored = await store.put(key, bounded(), content_type)
    except BaseException:
        # A put is atomic, but a cancelled one is not trusted to have left nothing.
        with contextlib.suppress(Exception):
            await store.delete(key)
        raise
    if stored.size == 0:
        await store.delete(key)
        raise refusals.empty(refusals.empty_detail)
    return ReceivedObject(key, stored.size, digest.hexdigest(), content_type)
