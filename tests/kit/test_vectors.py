"""kit.vectors on both backends (pgvector on PostgreSQL, sqlite-vec and FTS5 on SQLite), built
by real migrations: nearest order equals the exact cosine order, filters still give k rows,
a collection larger than the SQLite shortlist is still found (sign bits, then cosine), version
1's SQLite vectors are moved to version 2 by its migration and version 2's sign bits to version
3's shards by its own, a collection smaller than the shortlist is searched exactly and equal
scores are ordered by id,
full text and hybrid rank, stored passages and vectors are read back, removal leaves nothing,
tenants and collections stay apart, a new dimension is prepared at run time, and the schema
matches what the models declare."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import MetaData, text

from v100.kit.db import (
    AsyncEngine,
    create_engine,
    create_sessionmaker,
    migrate,
    schema_drift,
    service_metadata,
    unit_of_work,
)
from v100.kit.testing.db import migrated_engine
from v100.kit.vectors import (
    VectorEntry,
    VectorScope,
    add_vector_tables,
    query_terms,
    reciprocal_rank_fusion,
    vector_store,
)
from v100.kit.vectors._sqlite import (
    CHUNK_SIZE,
    MMAP_SIZE,
    SHARDS,
    V2_CHUNK_SIZE,
    V2_SHARDS,
    V3_CHUNK_SIZE,
    V3_SHARDS,
    create_bits_table,
    shard,
    sign_bits,
)

SERVICE = "vectors_sample"
MIGRATIONS = Path(__file__).parent / "migrations_vectors"
TENANT, OTHER = "tenant-a", "tenant-b"


def sample_metadata() -> MetaData:
    metadata = service_metadata(SERVICE)
    add_vector_tables(metadata)
    return metadata


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    metadata = sample_metadata()
    async with migrated_engine(SERVICE, database_url, MIGRATIONS, metadata) as made:
        yield made


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def random_units(count: int, dimension: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((count, dimension)).astype(np.float32)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


async def add(
    engine: AsyncEngine,
    tenant: str,
    collection: str,
    vectors: np.ndarray,
    *,
    document: str = "doc-1",
    texts: list[str] | None = None,
    attributes: list[dict[str, object]] | None = None,
) -> None:
    sessions = create_sessionmaker(engine)
    entries = [
        VectorEntry(
            document_id=document,
            position=index,
            text=(texts or [])[index] if texts else f"passage {index}",
            vector=vector,
            attributes=(attributes or [])[index] if attributes else {"n": index},
        )
        for index, vector in enumerate(vectors)
    ]
    async with unit_of_work(sessions) as session:
        await vector_store(session).add(session, tenant, collection, vectors.shape[1], entries)


async def test_nearest_order_is_the_exact_cosine_order(engine: AsyncEngine) -> None:
    vectors = random_units(60, 4, seed=1)
    await add(engine, TENANT, "c1", vectors)
    query = random_units(1, 4, seed=2)[0]
    exact = np.argsort(-(vectors @ query), kind="stable")[:10]
    async with unit_of_work(create_sessionmaker(engine)) as session:
        hits = await vector_store(session).nearest(
            session, VectorScope(TENANT, ["c1"], 4), query, 10
        )
    assert [hit.position for hit in hits] == exact.tolist()
    similarities = vectors[exact] @ query
    assert [hit.score for hit in hits] == pytest.approx(similarities.tolist(), abs=1e-5)
    assert hits[0].attributes == {"n": int(exact[0])}
    assert hits[0].document_id == "doc-1"
    assert hits[0].collection_id == "c1"


async def test_a_selective_filter_still_returns_k_rows(engine: AsyncEngine) -> None:
    # 400 rows, 10 of which pass the filter, all far from the query: an index scan that stops
    # at its candidate list would find none of them (pgvector#719, #785).
    vectors = random_units(400, 4, seed=3)
    query = unit(1, 0, 0, 0)
    far = np.argsort(vectors @ query)[:10]
    attributes: list[dict[str, object]] = [{"kind": "plain"} for _ in range(400)]
    for index in far:
        attributes[int(index)] = {"kind": "rare", "lang": "en"}
    await add(engine, TENANT, "c1", vectors, attributes=attributes)
    async with unit_of_work(create_sessionmaker(engine)) as session:
        store = vector_store(session)
        if engine.dialect.name == "postgresql":
            # A table this small would be scanned whole: make the planner take the HNSW index,
            # whose candidate list (ef_search 64) holds none of the 10 rows that pass.
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = await session.execute(text(
                "EXPLAIN SELECT id FROM kit_vectors WHERE dimension = 4 "
                "ORDER BY embedding::halfvec(4) <=> '[1,0,0,0]' LIMIT 5"
            ))  # fmt: skip
            assert "ix_kit_vectors_hnsw_half_4" in "\n".join(plan.scalars())
        scope = VectorScope(TENANT, ["c1"], 4, where={"kind": "rare"})
        hits = await store.nearest(session, scope, query, 5)
        both = VectorScope(TENANT, ["c1"], 4, where={"kind": "rare", "lang": "en"})
        all_rare = await store.nearest(session, both, query, 50)
        none = await store.nearest(session, VectorScope(TENANT, ["c1"], 4, where={"kind": "x"}),
                                   query, 5)  # fmt: skip
    expected = sorted(far.tolist(), key=lambda i: -float(vectors[i] @ query))
    assert [hit.position for hit in hits] == expected[:5]
    assert sorted(hit.position for hit in all_rare) == sorted(far.tolist())
    assert none == []


async def test_collections_and_tenants_stay_apart(engine: AsyncEngine) -> None:
    await add(engine, TENANT, "c1", random_units(5, 4, seed=4), texts=["alpha"] * 5)
    await add(engine, TENANT, "c2", random_units(5, 4, seed=5), texts=["alpha"] * 5)
    await add(engine, OTHER, "c3", random_units(5, 4, seed=6), texts=["alpha"] * 5)
    query = random_units(1, 4, seed=7)[0]
    async with unit_of_work(create_sessionmaker(engine)) as session:
        store = vector_store(session)
        one = await store.nearest(session, VectorScope(TENANT, ["c1"], 4), query, 20)
        two = await store.nearest(session, VectorScope(TENANT, ["c1", "c2"], 4), query, 20)
        # Another tenant's collection named by id finds nothing.
        stolen = await store.nearest(session, VectorScope(TENANT, ["c3"], 4), query, 20)
        stolen_text = await store.matching(session, VectorScope(TENANT, ["c3"], 4), "alpha", 20)
        texts = await store.matching(session, VectorScope(TENANT, ["c1", "c2"], 4), "alpha", 20)
    assert {hit.collection_id for hit in one} == {"c1"}
    assert len(one) == 5
    assert {hit.collection_id for hit in two} == {"c1", "c2"}
    assert len(two) == 10
    scores = [hit.score for hit in two]
    assert scores == sorted(scores, reverse=True)
    assert stolen == []
    assert stolen_text == []
    assert len(texts) == 10


async def test_full_text_ranks_passages_by_their_words(engine: AsyncEngine) -> None:
    texts = [
        "The refund policy allows returns within thirty days of purchase.",
        "Our office is closed on public holidays.",
        "Refunds for damaged goods are paid to the original card.",
        "Shipping takes three to five working days.",
    ]
    await add(engine, TENANT, "c1", random_units(4, 4, seed=8), texts=texts)
    async with unit_of_work(create_sessionmaker(engine)) as session:
        store = vector_store(session)
        scope = VectorScope(TENANT, ["c1"], 4)
        hits = await store.matching(
            session, scope, "What is the refund policy for damaged goods?", 4
        )
        nothing = await store.matching(session, scope, "what is the", 4)
        quoted = await store.matching(session, scope, 'refund" OR "x AND ( NEAR', 4)
    # Stemming: "refund" also matches "Refunds"; the passage with more of the words is first.
    assert {hit.position for hit in hits} == {0, 2}
    assert hits[0].score >= hits[1].score
    assert nothing == []
    assert {hit.position for hit in quoted} == {0, 2}  # query syntax is never interpreted


async def test_hybrid_fuses_both_lists(engine: AsyncEngine) -> None:
    texts = ["apple pie recipe", "car engine repair", "apple orchard in autumn", "pie crust"]
    vectors = np.stack([unit(1, 0, 0, 0), unit(0, 1, 0, 0), unit(1, 1, 0, 0), unit(0, 0, 1, 0)])
    await add(engine, TENANT, "c1", vectors, texts=texts)
    query = unit(1, 0.9, 0, 0)
    async with unit_of_work(create_sessionmaker(engine)) as session:
        store = vector_store(session)
        scope = VectorScope(TENANT, ["c1"], 4)
        by_vector = await store.nearest(session, scope, query, 4)
        by_text = await store.matching(session, scope, "apple pie", 4)
        fused = await store.hybrid(session, scope, query, "apple pie", 3)
    assert fused == reciprocal_rank_fusion(by_vector, by_text, 3)
    assert len(fused) == 3
    # Found by both lists beats found by one: "car engine" (vector only) is not in the top 2.
    assert all(hit.vector_rank and hit.fulltext_rank for hit in fused[:2])
    assert {hit.position for hit in fused[:2]} == {0, 2}
    assert fused[0].score >= fused[1].score >= fused[2].score


async def test_removal_leaves_nothing_behind(engine: AsyncEngine) -> None:
    await add(engine, TENANT, "c1", random_units(6, 4, seed=9), document="d1",
              texts=["zebra"] * 6)  # fmt: skip
    await add(engine, TENANT, "c1", random_units(4, 4, seed=10), document="d2",
              texts=["zebra"] * 4)  # fmt: skip
    query = random_units(1, 4, seed=11)[0]
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        store = vector_store(session)
        assert await store.remove(session, OTHER, "c1", ["d1"]) == 0  # not the other tenant's
        assert await store.remove(session, TENANT, "c1", ["d1"]) == 6
    async with unit_of_work(sessions) as session:
        store = vector_store(session)
        scope = VectorScope(TENANT, ["c1"], 4)
        assert await store.count(session, TENANT, "c1", "d1") == 0
        assert await store.count(session, TENANT, "c1", None) == 4
        assert {hit.document_id for hit in await store.nearest(session, scope, query, 20)} == {"d2"}
        assert {hit.document_id for hit in await store.matching(session, scope, "zebra", 20)} == {
            "d2"
        }
        assert await store.remove(session, TENANT, "c1") == 4
    async with unit_of_work(sessions) as session:
        store = vector_store(session)
        assert await store.nearest(session, VectorScope(TENANT, ["c1"], 4), query, 5) == []
        assert await store.matching(session, VectorScope(TENANT, ["c1"], 4), "zebra", 5) == []


async def test_stored_passages_and_vectors_are_read_back(engine: AsyncEngine) -> None:
    vectors = random_units(5, 4, seed=12)
    await add(engine, TENANT, "c1", vectors[:3], document="d1")
    await add(engine, TENANT, "c1", vectors[3:], document="d2")
    await add(engine, OTHER, "c1", random_units(2, 4, seed=13), document="d1")
    async with unit_of_work(create_sessionmaker(engine)) as session:
        store = vector_store(session)
        passages = await store.passages(session, TENANT, "c1")
        assert [(p.document_id, p.position) for p in passages] == [
            ("d1", 0), ("d1", 1), ("d1", 2), ("d2", 0), ("d2", 1),
        ]  # fmt: skip
        assert passages[1].attributes == {"n": 1}
        assert passages[1].text == "passage 1"
        only = await store.passages(session, TENANT, "c1", ["d2"])
        assert [p.id for p in only] == [p.id for p in passages[3:]]
        read = await store.vectors(session, 4, [p.id for p in passages])
        for index, passage in enumerate(passages):
            assert read[passage.id] == pytest.approx(vectors[index], abs=1e-6)
        assert await store.vectors(session, 4, []) == {}


async def test_a_rolled_back_add_leaves_nothing(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)

    async def add_then_fail() -> None:
        async with unit_of_work(sessions) as session:
            entry = VectorEntry("d1", 0, "walrus", unit(1, 0, 0, 0))
            await vector_store(session).add(session, TENANT, "c1", 4, [entry])
            raise RuntimeError("the caller's work failed")

    with pytest.raises(RuntimeError):
        await add_then_fail()
    async with unit_of_work(sessions) as session:
        store = vector_store(session)
        assert await store.count(session, TENANT, "c1", None) == 0
        assert await store.matching(session, VectorScope(TENANT, ["c1"], 4), "walrus", 5) == []


async def test_a_new_dimension_is_prepared_at_run_time(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        store = vector_store(session)
        await store.prepare(session, 8)
        await store.prepare(session, 8)  # nothing the second time
    vectors = random_units(20, 8, seed=12)
    await add(engine, TENANT, "c8", vectors)
    await add(engine, TENANT, "c4", random_units(20, 4, seed=13))
    query = vectors[3]
    async with unit_of_work(sessions) as session:
        hits = await vector_store(session).nearest(
            session, VectorScope(TENANT, ["c8"], 8), query, 3
        )
    assert hits[0].position == 3
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    async with unit_of_work(sessions) as session:
        store = vector_store(session)
        with pytest.raises(ValueError, match="dimensions"):
            await store.nearest(session, VectorScope(TENANT, ["c8"], 0), query, 3)


async def test_bad_scopes_and_vectors_are_refused(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="attribute"):
        VectorScope(TENANT, ["c1"], 4, where={'a"]': "x"})
    with pytest.raises(ValueError, match="scalar"):
        VectorScope(TENANT, ["c1"], 4, where={"a": ["x"]})  # type: ignore[dict-item]
    async with unit_of_work(create_sessionmaker(engine)) as session:
        store = vector_store(session)
        with pytest.raises(ValueError, match="4-d"):
            await store.add(session, TENANT, "c1", 4, [VectorEntry("d", 0, "x", unit(1, 0, 0))])
        with pytest.raises(ValueError, match="k is between"):
            await store.nearest(session, VectorScope(TENANT, ["c1"], 4), unit(1, 0, 0, 0), 0)


def low_rank_units(count: int, dimension: int, rank: int, seed: int) -> np.ndarray:
    """Vectors that fill ``rank`` of their dimensions, with a little noise in all, as
    embeddings of text do (uniform noise has no neighbours worth finding)."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((count, rank)) @ rng.standard_normal((rank, dimension))
    rows += 0.2 * rng.standard_normal(rows.shape)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


async def test_a_collection_larger_than_the_shortlist_is_searched_well(
    engine: AsyncEngine,
) -> None:
    # 3,000 rows of 384-d: on SQLite, k 10 shortlists 32 shards x 13 = 416 of them by sign
    # bits, then orders those by exact cosine; PostgreSQL's HNSW answers from its graph.
    vectors = low_rank_units(3000, 384, rank=12, seed=21)
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        await vector_store(session).prepare(session, 384)
    await add(engine, TENANT, "big", vectors)
    await add(engine, TENANT, "other", vectors[:500])  # same vectors, another collection
    # Each query near a stored vector, so it has true neighbours.
    rng = np.random.default_rng(22)
    queries = vectors[rng.integers(0, 3000, 20)] + 0.05 * rng.standard_normal((20, 384))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    found = 0
    async with unit_of_work(sessions) as session:
        store = vector_store(session)
        for query in queries:
            hits = await store.nearest(session, VectorScope(TENANT, ["big"], 384), query, 10)
            exact = np.argsort(-(vectors @ query), kind="stable")[:10]
            found += len({hit.position for hit in hits} & set(exact.tolist()))
            assert {hit.collection_id for hit in hits} == {"big"}
            # The scores are the exact cosines, best first.
            assert [hit.score for hit in hits] == pytest.approx(
                [float(vectors[hit.position] @ query) for hit in hits], abs=1e-5
            )
            assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert found / (10 * len(queries)) >= 0.9


async def test_version_1_vectors_are_moved_by_the_version_2_migration(tmp_path: Path) -> None:
    # SQLite only: PostgreSQL's tables do not change.
    first = tmp_path / "migrations"
    shutil.copytree(
        MIGRATIONS, first, ignore=shutil.ignore_patterns("*kit_vectors_v2*", "*kit_vectors_v3*")
    )
    url = f"sqlite+aiosqlite:///{tmp_path}/v1.db"
    metadata = sample_metadata()
    await migrate(SERVICE, url, first, metadata)
    vectors = random_units(30, 4, seed=23)
    engine = create_engine(url)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            for index, vector in enumerate(vectors):
                await session.execute(
                    text(
                        "INSERT INTO kit_vectors (id, tenant_id, collection_id, document_id, "
                        "position, dimension, text, attributes) VALUES (:id, :tenant, 'c1', "
                        "'d1', :position, 4, 'passage', '{}')"
                    ),
                    {"id": index + 1, "tenant": TENANT, "position": index},
                )
                await session.execute(
                    text(
                        "INSERT INTO kit_vectors_vec_4 (rowid, collection_id, embedding) "
                        "VALUES (:id, 'c1', :embedding)"
                    ),
                    {"id": index + 1, "embedding": vector.astype("<f4").tobytes()},
                )
        await migrate(SERVICE, url, MIGRATIONS, metadata)
        assert await schema_drift(engine, SERVICE, metadata) == []
        async with unit_of_work(create_sessionmaker(engine)) as session:
            store = vector_store(session)
            tables = await session.execute(text("SELECT name FROM sqlite_master"))
            assert "kit_vectors_vec_4" not in set(tables.scalars())
            query = random_units(1, 4, seed=24)[0]
            hits = await store.nearest(session, VectorScope(TENANT, ["c1"], 4), query, 5)
            exact = np.argsort(-(vectors @ query), kind="stable")[:5]
            assert [hit.position for hit in hits] == exact.tolist()
            read = await store.vectors(session, 4, [1, 2])
            assert read[2] == pytest.approx(vectors[1], abs=1e-6)
    finally:
        await engine.dispose()


async def test_a_small_collection_is_searched_exactly_and_ties_go_by_id(
    engine: AsyncEngine,
) -> None:
    # 300 rows of 384-d (the sign-bit shortlist on SQLite): at k 10 each of the 32 shards gives
    # up to 13, more than it holds, so every row is rescored and the answer is exact. Rows 0
    # to 4 are one vector: equal cosines, ordered by id (the order they were added in).
    vectors = low_rank_units(300, 384, rank=12, seed=31)
    vectors[1:5] = vectors[0]
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        await vector_store(session).prepare(session, 384)
    await add(engine, TENANT, "small", vectors)
    rng = np.random.default_rng(32)
    queries = vectors[rng.integers(5, 300, 8)] + 0.05 * rng.standard_normal((8, 384))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    scope = VectorScope(TENANT, ["small"], 384)
    async with unit_of_work(sessions) as session:
        store = vector_store(session)
        tied = await store.nearest(session, scope, vectors[0], 3)
        assert [hit.position for hit in tied] == [0, 1, 2]
        assert [hit.score for hit in tied] == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
        if engine.dialect.name == "postgresql":
            return  # HNSW is approximate at any size; its recall is the test above's
        # The search mapped the file on its connection (ADR 0059).
        assert await session.scalar(text("PRAGMA mmap_size")) == MMAP_SIZE
        for query in queries:
            hits = await store.nearest(session, scope, query, 10)
            exact = np.argsort(-(vectors @ query), kind="stable")[:10]
            assert [hit.position for hit in hits] == exact.tolist()
            assert hits[0].text == f"passage {exact[0]}"
            assert hits[0].attributes == {"n": int(exact[0])}


async def test_version_2_sign_bits_are_sharded_again_by_the_version_3_migration(
    tmp_path: Path,
) -> None:
    # SQLite only. Version 2's layout: 16 shards a collection, 128-row chunks.
    second = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, second, ignore=shutil.ignore_patterns("*kit_vectors_v3*"))
    url = f"sqlite+aiosqlite:///{tmp_path}/v2.db"
    metadata = sample_metadata()
    await migrate(SERVICE, url, second, metadata)
    vectors = low_rank_units(200, 384, rank=12, seed=33)
    engine = create_engine(url)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            await session.execute(text(create_bits_table(384, V2_CHUNK_SIZE)))
            for index, vector in enumerate(vectors):
                params = {"id": index + 1, "position": index, "tenant": TENANT,
                          "shard": shard("c1", index + 1, V2_SHARDS),
                          "embedding": vector.astype("<f4").tobytes(),
                          "bits": sign_bits(vector)}  # fmt: skip
                await session.execute(
                    text(
                        "INSERT INTO kit_vectors (id, tenant_id, collection_id, document_id, "
                        "position, dimension, text, attributes) VALUES (:id, :tenant, 'c1', "
                        "'d1', :position, 384, 'passage', '{}')"
                    ),
                    params,
                )
                await session.execute(
                    text("INSERT INTO kit_vectors_f32 (id, embedding) VALUES (:id, :embedding)"),
                    params,
                )
                await session.execute(
                    text(
                        "INSERT INTO kit_vectors_bits_384 (rowid, shard, embedding) "
                        "VALUES (:id, :shard, vec_bit(:bits))"
                    ),
                    params,
                )
        await migrate(SERVICE, url, MIGRATIONS, metadata)
        assert await schema_drift(engine, SERVICE, metadata) == []
        async with unit_of_work(create_sessionmaker(engine)) as session:
            made = await session.scalar(
                text("SELECT sql FROM sqlite_master WHERE name = 'kit_vectors_bits_384'")
            )
            assert f"chunk_size={V3_CHUNK_SIZE}" in str(made)
            shards = await session.execute(text("SELECT rowid, shard FROM kit_vectors_bits_384"))
            assert dict(shards.all()) == {
                row_id: shard("c1", row_id, V3_SHARDS) for row_id in range(1, 201)
            }
            query = vectors[7]
            hits = await vector_store(session).nearest(
                session, VectorScope(TENANT, ["c1"], 384), query, 10
            )
            exact = np.argsort(-(vectors @ query), kind="stable")[:10]
            assert [hit.position for hit in hits] == exact.tolist()
    finally:
        await engine.dispose()


def test_the_store_searches_the_layout_the_latest_migration_builds() -> None:
    assert (SHARDS, CHUNK_SIZE) == (V3_SHARDS, V3_CHUNK_SIZE) != (V2_SHARDS, V2_CHUNK_SIZE)


async def test_the_migration_builds_what_the_metadata_declares(engine: AsyncEngine) -> None:
    assert await schema_drift(engine, SERVICE, sample_metadata()) == []


def test_query_terms() -> None:
    assert query_terms("What is the refund policy, and the REFUND window?") == [
        "refund", "policy", "window",
    ]  # fmt: skip
    assert query_terms('"); DROP TABLE x; --') == ["drop", "table", "x"]
    assert len(query_terms(" ".join(f"w{i}" for i in range(100)))) == 64
