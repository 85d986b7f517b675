"""Approximate nearest neighbours at scale (issue 15's figures): recall@10 of
``kit.vectors`` against exact search (numpy) and the p95 latency of one query, at 100,000
passages of 384 dimensions, on pgvector (HNSW, cosine, ``ef_search`` 40 and the store's 100) and
on sqlite-vec (``vec0``, which scans exactly). Targets: recall >= 0.95, p95 <= 20 ms. Run by
hand, not in CI:

    .venv/bin/python bench/vector_ann.py [--count 100000] [--queries 200]

PostgreSQL needs V100_TEST_POSTGRES_URL (scripts/services/postgres.sh start); without it only
sqlite-vec runs. The vectors have a low intrinsic dimension (24, with 5% noise in all 384), as
embeddings of real text do, not uniform noise; each query is a stored vector moved by noise, so
it has true near neighbours."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from v100.kit.db import create_engine, create_sessionmaker, drop_database, migrate, unit_of_work
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.vectors import VectorEntry, VectorScope, vector_store
from v100.kit.vectors._postgres import PgVectorStore
from v100.services.rag_engine.app import DATABASE

DIMENSION = 384
TENANT, COLLECTION = "bench-tenant", "bench-collection"
K = 10
# Sentence embeddings fill a space of far fewer dimensions than they have (estimates for
# MiniLM-sized models run from 10 to 40); uniform noise in all 384 is no embedding, and no
# index finds neighbours in it that mean anything.
INTRINSIC = 24


def dataset(count: int, queries: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of low intrinsic dimension (``INTRINSIC``) in 384, with a little noise in every
    direction, normalised; queries are stored vectors moved a little."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((INTRINSIC, DIMENSION)).astype(np.float32)
    rows = rng.standard_normal((count, INTRINSIC)).astype(np.float32) @ basis
    rows += (
        0.05
        * np.linalg.norm(basis, axis=1).mean()
        * rng.standard_normal(rows.shape).astype(np.float32)
    )
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    picks = rows[rng.integers(0, count, queries)]
    asked = picks + 0.05 * rng.standard_normal(picks.shape).astype(np.float32)
    asked /= np.linalg.norm(asked, axis=1, keepdims=True)
    return rows.astype(np.float32), asked.astype(np.float32)


async def run_backend(name: str, url: str, rows: np.ndarray, asked: np.ndarray) -> None:
    await migrate("rag_engine", url, DATABASE.migrations_dir, DATABASE.metadata)
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    try:
        started = time.perf_counter()
        for first in range(0, len(rows), 2000):
            batch = rows[first : first + 2000]
            entries = [
                VectorEntry(f"doc-{(first + i) // 20}", first + i, f"passage {first + i}", vector)
                for i, vector in enumerate(batch)
            ]
            async with unit_of_work(sessions) as session:
                await vector_store(session).add(session, TENANT, COLLECTION, DIMENSION, entries)
        print(f"{name}: {len(rows)} vectors stored (and indexed) in "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        exact = np.argsort(-(asked @ rows.T), axis=1)[:, :K]
        scope = VectorScope(TENANT, [COLLECTION], DIMENSION)
        stores = [("exact scan", None)] if name == "sqlite-vec" else [
            (f"HNSW ef_search {ef}", PgVectorStore(ef_search=ef)) for ef in (40, 100)
        ]  # fmt: skip
        for label, chosen in stores:
            recalls, latencies = [], []
            for index, query in enumerate(asked):
                async with unit_of_work(sessions) as session:
                    store = chosen or vector_store(session)
                    began = time.perf_counter()
                    hits = await store.nearest(session, scope, query, K)
                    latencies.append(time.perf_counter() - began)
                found = {hit.position for hit in hits}
                recalls.append(len(found & set(exact[index].tolist())) / K)
            ordered = sorted(latencies)
            p95 = ordered[int(0.95 * (len(ordered) - 1))]
            print(f"  {label}: recall@10 {statistics.fmean(recalls):.3f} (target >= 0.95), "
                  f"latency median {statistics.median(ordered) * 1000:.1f} ms, "
                  f"p95 {p95 * 1000:.1f} ms (target <= 20 ms)")  # fmt: skip
    finally:
        await engine.dispose()


async def main(count: int, queries: int) -> None:
    rows, asked = dataset(count, queries)
    with tempfile.TemporaryDirectory(prefix="v100-ann-bench-") as scratch:
        await run_backend("sqlite-vec", f"sqlite+aiosqlite:///{Path(scratch)}/ann.db", rows, asked)
    admin = postgres_admin_url()
    if admin is None:
        print("pgvector: skipped (V100_TEST_POSTGRES_URL is not set)")
        return
    url = fresh_postgres_url(admin, prefix="v100_ann_bench")
    try:
        await run_backend("pgvector", url, rows, asked)
    finally:
        await drop_database(url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.queries))
