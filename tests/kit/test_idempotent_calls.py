"""``kit.idempotency.idempotent`` on both backends, with the coroutine it is handed: a new key
runs the work once and stores its answer, a retry gets that answer back without the work being
started (and without a never-awaited coroutine left behind), the same key with another payload
is 409, and a caller's own lock (billing's ledger lock) is taken before the lookup."""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import create_sessionmaker, service_metadata, unit_of_work
from v100.kit.idempotency import IdempotencyKeyReused, add_idempotency_table, idempotent
from v100.kit.testing.db import migrated_engine

SERVICE = "idempotencysample"
MIGRATIONS = Path(__file__).parent / "migrations_idempotency"
TENANT = "tenant-1"
metadata = service_metadata(SERVICE)
add_idempotency_table(metadata)


class NoteOut(BaseModel):
    id: int
    text: str


class Notes:
    """A service that counts what it really did."""

    def __init__(self) -> None:
        self.made: list[str] = []

    async def create(self, text: str) -> tuple[int, str]:
        self.made.append(text)
        return len(self.made), text


def note_out(made: tuple[int, str]) -> NoteOut:
    return NoteOut(id=made[0], text=made[1])


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated_engine(SERVICE, database_url, MIGRATIONS, metadata) as engine:
        yield create_sessionmaker(engine)


async def _create(
    sessions: async_sessionmaker[AsyncSession], notes: Notes, key: str | None, text: str
) -> tuple[int, dict[str, object], str | None]:
    async with unit_of_work(sessions) as session:
        response = await idempotent(
            session, TENANT, key, "create_note", {"text": text},
            notes.create(text), note_out, status=201,
        )  # fmt: skip
    return (
        response.status_code,
        orjson.loads(response.body),
        response.headers.get("Idempotent-Replayed"),
    )


async def test_a_retry_gets_the_first_answer_and_never_starts_the_work(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    notes = Notes()
    first = await _create(sessions, notes, "k1", "hello")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        again = await _create(sessions, notes, "k1", "hello")
        gc.collect()
    assert first == (201, {"id": 1, "text": "hello"}, None)
    assert again == (201, {"id": 1, "text": "hello"}, "true")
    assert notes.made == ["hello"]
    assert not [w for w in seen if issubclass(w.category, RuntimeWarning)], seen


async def test_without_a_key_the_work_just_runs(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    notes = Notes()
    assert (await _create(sessions, notes, None, "a"))[:2] == (201, {"id": 1, "text": "a"})
    assert (await _create(sessions, notes, None, "a"))[:2] == (201, {"id": 2, "text": "a"})


async def test_the_same_key_with_another_payload_is_refused_and_nothing_runs(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    notes = Notes()
    await _create(sessions, notes, "k2", "one")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(IdempotencyKeyReused):
            await _create(sessions, notes, "k2", "two")
        gc.collect()
    assert notes.made == ["one"]
    assert not [w for w in seen if issubclass(w.category, RuntimeWarning)], seen


async def test_a_callers_lock_comes_first_and_the_answer_is_shaped_by_an_async_answer(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    notes = Notes()
    events: list[str] = []

    async def lock() -> None:
        events.append("locked")

    async def shaped(made: tuple[int, str]) -> NoteOut:
        events.append("shaped")
        return note_out(made)

    async def create(key: str) -> tuple[int, bytes, str | None]:
        async with unit_of_work(sessions) as session:
            response = await idempotent(
                session, TENANT, key, "create_note", NoteOut(id=0, text="x"),
                notes.create("x"), shaped, status=201, lock=lock,
            )  # fmt: skip
        return response.status_code, response.body, response.headers.get("Idempotent-Replayed")

    first = await create("k3")
    again = await create("k3")
    assert first[:2] == again[:2] == (201, b'{"id":1,"text":"x"}')
    assert (first[2], again[2]) == (None, "true")
    assert events == ["locked", "shaped", "locked"]
    assert notes.made == ["x"]
