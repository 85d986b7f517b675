"""``receive_bounded`` on both backends (local disk and real S3): a body stored whole with its
size and SHA-256; refused when declared too large (nothing read), when found too large while it
arrives, or when empty, and in each case nothing is left under the key."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from v100.kit.storage import (
    BodyTooLarge,
    EmptyBody,
    ObjectNotFound,
    ObjectStore,
    ReceivedObject,
    receive_bounded,
)


async def _body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _gone(storage: ObjectStore, key: str) -> bool:
    try:
        await storage.head(key)
    except ObjectNotFound:
        return True
    return False


async def test_a_body_is_stored_whole_with_its_digest(storage: ObjectStore) -> None:
    data = [b"first part, ", b"second part"]

    received = await receive_bounded(
        storage, "uploads/a", _body(*data), limit=100, declared_length=None,
        content_type="text/plain",
    )  # fmt: skip

    whole = b"".join(data)
    assert received == ReceivedObject(
        "uploads/a", len(whole), hashlib.sha256(whole).hexdigest(), "text/plain"
    )
    assert await storage.get("uploads/a") == whole


async def test_exactly_the_limit_is_taken(storage: ObjectStore) -> None:
    received = await receive_bounded(
        storage, "uploads/b", _body(b"12345"), limit=5, declared_length=5, content_type=None
    )

    assert received.size == 5


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    storage: ObjectStore,
) -> None:
    read: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        read.append(b"x")
        yield b"x"

    with pytest.raises(BodyTooLarge) as refused:
        await receive_bounded(
            storage, "uploads/c", body(), limit=10, declared_length=11, content_type=None
        )

    assert (refused.value.limit, refused.value.declared, read) == (10, 11, [])
    assert refused.value.said_of("A file") == (
        "A file takes at most 10 bytes; this one declares 11."
    )
    assert await _gone(storage, "uploads/c")


async def test_a_body_found_too_large_leaves_nothing(storage: ObjectStore) -> None:
    with pytest.raises(BodyTooLarge) as refused:
        await receive_bounded(
            storage, "uploads/d", _body(b"123456", b"789"), limit=8, declared_length=None,
            content_type=None,
        )  # fmt: skip

    assert refused.value.declared is None
    assert refused.value.said_of("A document") == "A document takes at most 8 bytes."
    assert await _gone(storage, "uploads/d")


async def test_an_empty_body_is_refused_and_leaves_nothing(storage: ObjectStore) -> None:
    with pytest.raises(EmptyBody):
        await receive_bounded(
            storage, "uploads/e", _body(), limit=8, declared_length=None, content_type=None
        )

    assert await _gone(storage, "uploads/e")
