"""``receive_bounded`` on both backends (local disk and real S3): a body stored whole with its
size and SHA-256; refused with the caller's own problems when declared too large (nothing
read), when found too large while it arrives, or when empty, and in each case nothing is left
under the key."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from v100.kit.errors import PayloadTooLarge, ValidationFailed
from v100.kit.storage import (
    ObjectNotFound,
    ObjectStore,
    ReceivedObject,
    UploadRefusals,
    receive_bounded,
)


class _TooLarge(PayloadTooLarge):
    slug = "sample-too-large"


class _Empty(ValidationFailed):
    slug = "sample-empty"


_REFUSALS = UploadRefusals(_TooLarge, "A sample", _Empty, "The sample is empty.")


async def _body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _gone(storage: ObjectStore, key: str) -> bool:
    try:
        await storage.head(key)
    except ObjectNotFound:
        return True
    return False


async def _receive(
    storage: ObjectStore, key: str, body: AsyncIterator[bytes], limit: int, declared: int | None
) -> ReceivedObject:
    return await receive_bounded(
        storage, key, body, limit=limit, declared_length=declared, content_type="text/plain",
        refusals=_REFUSALS,
    )  # fmt: skip


async def test_a_body_is_stored_whole_with_its_digest(storage: ObjectStore) -> None:
    data = [b"first part, ", b"second part"]

    received = await _receive(storage, "uploads/a", _body(*data), 100, None)

    whole = b"".join(data)
    assert received == ReceivedObject(
        "uploads/a", len(whole), hashlib.sha256(whole).hexdigest(), "text/plain"
    )
    assert await storage.get("uploads/a") == whole


async def test_exactly_the_limit_is_taken(storage: ObjectStore) -> None:
    received = await _receive(storage, "uploads/b", _body(b"12345"), 5, 5)

    assert received.size == 5


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    storage: ObjectStore,
) -> None:
    read: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        read.append(b"x")
        yield b"x"

    with pytest.raises(_TooLarge) as refused:
        await _receive(storage, "uploads/c", body(), 10, 11)

    assert refused.value.detail == "A sample takes at most 10 bytes; this one declares 11."
    assert read == []
    assert await _gone(storage, "uploads/c")


async def test_a_body_found_too_large_leaves_nothing(storage: ObjectStore) -> None:
    with pytest.raises(_TooLarge) as refused:
        await _receive(storage, "uploads/d", _body(b"123456", b"789"), 8, None)

    assert refused.value.detail == "A sample takes at most 8 bytes."
    assert await _gone(storage, "uploads/d")


async def test_an_empty_body_is_refused_and_leaves_nothing(storage: ObjectStore) -> None:
    with pytest.raises(_Empty) as refused:
        await _receive(storage, "uploads/e", _body(), 8, None)

    assert refused.value.detail == "The sample is empty."
    assert await _gone(storage, "uploads/e")
