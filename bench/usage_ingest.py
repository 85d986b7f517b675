"""Usage ingestion with deduplication through a real ``v100 serve billing_engine`` process on
PostgreSQL (issue 4's figure: at least 5,000 events/s in batches). Run by hand, not in CI:

    source .cache/ci/postgres.env   # scripts/services/postgres.sh start
    .venv/bin/python bench/usage_ingest.py [--events 100000] [--batch 1000] [--connections 8]
                                           [--duplicates 0.1]

Each batch repeats a share of ids already sent in an earlier batch (``--duplicates``), so the
unique constraint does real work; at the end the meter's summary must count exactly the unique
events, and the answers must report every repeat as a duplicate."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from _support import free_port
from v100.kit.auth import InternalTokens, Principal
from v100.kit.db import drop_database
from v100.kit.testing.db import fresh_postgres_url

V100 = str(Path(sys.executable).with_name("v100"))
SECRET = "bench-internal-token-secret-0123456789abcdef"  # noqa: S105 (a local bench value)
READY_TIMEOUT_S = 60.0


async def wait_ready(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if (await client.get("/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("billing_engine did not become ready")


def batches(total: int, size: int, duplicates: float) -> list[list[dict[str, object]]]:
    """Batches of ``size`` events; after the first, ``duplicates`` of each batch repeat ids
    already sent."""
    rng = random.Random(4)
    sent: list[str] = []
    out: list[list[dict[str, object]]] = []
    new = 0
    while new < total:
        batch: list[dict[str, object]] = []
        repeats = int(size * duplicates) if sent else 0
        for event_id in rng.sample(sent, min(repeats, len(sent))):
            batch.append({"id": event_id, "meter": "tokens", "properties": {"tokens": 1}})
        while len(batch) < size and new < total:
            event_id = f"evt-{new}"
            sent.append(event_id)
            new += 1
            batch.append({"id": event_id, "meter": "tokens", "properties": {"tokens": 1}})
        out.append(batch)
    return out


async def run(args: argparse.Namespace) -> None:
    admin = os.environ.get("V100_TEST_POSTGRES_URL")
    if not admin:
        sys.exit("set V100_TEST_POSTGRES_URL (scripts/services/postgres.sh start)")
    database_url = fresh_postgres_url(admin, prefix="v100_bench")
    port = free_port()
    tokens = InternalTokens(SECRET, 3600)
    headers = {
        "Authorization": "Bearer "
        + tokens.mint(Principal(str(uuid.uuid4()), "bench", frozenset({"*"})))
    }
    with tempfile.TemporaryDirectory(prefix="v100-bench-") as var:
        env = {
            **os.environ,
            "V100_VAR_DIR": var,
            "V100_INTERNAL_TOKEN_SECRET": SECRET,
            "V100_INTERNAL_TOKEN_TTL_SECONDS": "3600",
            "V100_LOG_LEVEL": "WARNING",
            "V100_BILLING_ENGINE_DATABASE_URL": database_url,
        }
        # Started once before the clock runs; blocking for a moment here is harmless.
        server = subprocess.Popen(  # noqa: ASYNC220
            [V100, "serve", "billing_engine", "--port", str(port)], env=env
        )
        try:
            limits = httpx.Limits(max_connections=args.connections)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers=headers, limits=limits, timeout=60
            ) as client:
                await wait_ready(client)
                meter = {"code": "tokens", "aggregation": "sum", "property": "tokens"}
                assert (await client.post("/v1/usage/meters", json=meter)).status_code == 201
                work = batches(args.events, args.batch, args.duplicates)
                sent = sum(len(b) for b in work)
                gate = asyncio.Semaphore(args.connections)
                counts = {"accepted": 0, "duplicates": 0, "rejected": 0}

                async def send(batch: list[dict[str, object]]) -> None:
                    async with gate:
                        response = await client.post("/v1/usage/events", json={"events": batch})
                        response.raise_for_status()
                        body = response.json()
                        for key in counts:
                            counts[key] += body[key]

                started = time.perf_counter()
                await asyncio.gather(*(send(b) for b in work))
                elapsed = time.perf_counter() - started
                summary = (
                    await client.get(
                        "/v1/usage/meters/tokens/summary",
                        params={"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"},
                    )
                ).json()
        finally:
            server.terminate()
            server.wait(timeout=30)
            await drop_database(database_url)
    counted = summary["groups"][0]["event_count"]
    verdict = "OK" if counted == args.events else "WRONG"
    print(f"events sent: {sent} in {len(work)} batches of {args.batch}, {args.connections} conns")
    print(f"accepted {counts['accepted']}, duplicates {counts['duplicates']}, ", end="")
    print(f"rejected {counts['rejected']}")
    print(f"meter counts {counted} events (expected {args.events}): {verdict}")
    print(f"ingestion: {sent / elapsed:,.0f} events/s ({elapsed:.2f} s); target >= 5,000 events/s")
    if counted != args.events or counts["accepted"] != args.events:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="unique events")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duplicates", type=float, default=0.1, help="share repeated per batch")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
