"""Concurrent deductions on one credit account through a real ``v100 serve billing`` process on
PostgreSQL (issue 4's figure: 1,000 concurrent ``deduct`` calls, each sent twice with the same
Idempotency-Key: final balance exact, zero duplicates; operations/s, target >= 1,000/s).
Run by hand, not in CI:

    scripts/services/postgres.sh start && source .cache/ci/postgres.env
    .venv/bin/python bench/credits_deduct.py [--calls 1000] [--connections 64] [--replicas 1]

The tenant starts with its 1,000 free-tier credits and each call deducts 1, so the exact final
balance is ``1000 - calls`` and the ledger must hold exactly ``calls`` deductions. Operations/s
counts every request answered (both copies of each call), and distinct charges per second. The
server's CPU time per request is printed too: on a machine shared with other work it moves far
less than requests/s, so compare it when the load is not steady (docs/billing.md, "Figures").
``--replicas N`` runs N billing processes on the database and sends the two copies of each call
to two different ones (exactness then rests on the database lock alone, not on one process).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg
from sqlalchemy.engine import make_url

from _support import free_port
from v100.kit.auth import InternalTokens, Principal
from v100.kit.db import drop_database

SECRET = "bench-internal-secret-0123456789abcdefghijkl"  # noqa: S105 - a local bench value
SCOPES = frozenset({"service:credits", "credits:read"})


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux ``/proc``; None elsewhere). On a shared
    machine the server's CPU per request is steadier than requests/s."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _wait_ready(session: aiohttp.ClientSession, base: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{base}/ready") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("billing did not become ready")


def _servers_cpu(servers: list[subprocess.Popen[bytes]]) -> float | None:
    used = [cpu_seconds(server.pid) for server in servers]
    return None if None in used else sum(u for u in used if u is not None)


async def run(admin_url: str, calls: int, connections: int, replicas: int) -> int:
    database = f"v100_bench_billing_{uuid.uuid4().hex[:8]}"
    url = make_url(admin_url).set(database=database).render_as_string(hide_password=False)
    ports = [free_port() for _ in range(replicas)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    base = bases[0]
    var_dir = Path(tempfile.mkdtemp(prefix="v100-bench-billing-"))
    env = {
        **os.environ,
        "V100_BILLING_DATABASE_URL": url,
        "V100_INTERNAL_TOKEN_SECRET": SECRET,
        "V100_VAR_DIR": str(var_dir),
        "V100_LOG_LEVEL": "WARNING",
    }
    servers: list[subprocess.Popen[bytes]] = []
    tokens = InternalTokens(SECRET, 600)
    tenant = str(uuid.uuid4())
    # What a service spending credits presents (contracts.billing.spending_for), and the read
    # scope for the balance.
    spender = Principal(tenant_id=tenant, scopes=SCOPES, role="service")
    auth = {"Authorization": f"Bearer {tokens.mint(spender)}"}
    try:
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as http:
            # One after the other: the first migrates the new database.
            for port, replica in zip(ports, bases, strict=True):
                servers.append(
                    subprocess.Popen(  # noqa: ASYNC220 - started before anything is timed
                        [sys.executable, "-m", "v100.cli", "serve", "billing", "--port", str(port)],
                        env=env,
                        start_new_session=True,
                    )
                )
                await _wait_ready(http, replica)
            async with http.get(f"{base}/v1/credits/balance", headers=auth) as response:
                start_balance = (await response.json())["available"]

            async def deduct(key: str, replica: str) -> tuple[int, str]:
                headers = {**auth, "Idempotency-Key": key}
                body = {"amount": 1, "reason": "bench", "reference": key}
                async with http.post(
                    f"{replica}/v1/credits/deductions", json=body, headers=headers
                ) as response:
                    answer = await response.json()
                    return response.status, str(answer.get("id"))

            keys = [uuid.uuid4().hex for _ in range(calls)]
            # Copy c of call i goes to replica (i + c) % replicas: with two or more, the two
            # copies of a call always reach different processes.
            requests = [
                deduct(k, bases[(i + copy) % replicas])
                for i, k in enumerate(keys)
                for copy in range(2)
            ]
            cpu_before = _servers_cpu(servers)
            started = time.perf_counter()
            answers = await asyncio.gather(*requests)
            elapsed = time.perf_counter() - started
            cpu_after = _servers_cpu(servers)

            async with http.get(f"{base}/v1/credits/balance", headers=auth) as response:
                end_balance = (await response.json())["available"]
        statuses = Counter(status for status, _ in answers)
        ids = {entry for status, entry in answers if status == 201}
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            rows = await connection.fetchval(
                "SELECT count(*) FROM journal_entries WHERE tenant_id = $1 AND kind = 'deduction'",
                tenant,
            )
        finally:
            await connection.close()
    finally:
        for server in servers:
            server.send_signal(signal.SIGINT)
        for server in servers:
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        await drop_database(url)

    expected = start_balance - calls
    print(
        f"calls: {calls} distinct keys, {2 * calls} requests, {connections} connections, "
        f"{replicas} billing process(es)"
    )
    print(f"statuses: {dict(statuses)}")
    print(f"balance: {start_balance} -> {end_balance} (expected {expected})")
    print(f"deductions in the ledger: {rows} (expected {calls}); distinct ids answered: {len(ids)}")
    print(f"elapsed: {elapsed:.2f} s; {2 * calls / elapsed:.0f} requests/s; "
          f"{calls / elapsed:.0f} charges/s (target >= 1,000 operations/s)")  # fmt: skip
    if cpu_before is not None and cpu_after is not None:
        used = cpu_after - cpu_before
        print(f"server CPU: {used:.2f} s, {1000 * used / (2 * calls):.2f} ms per request")
    elif sys.platform == "linux":
        print("server CPU: unknown (a billing process ended early?)")
    ok = end_balance == expected and rows == calls and len(ids) == calls
    print("RESULT:", "exact, zero duplicates" if ok else "WRONG")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--replicas", type=int, default=1, help="billing processes")
    parser.add_argument("--postgres-url", default=os.environ.get("V100_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    if not args.postgres_url:
        print("set V100_TEST_POSTGRES_URL (scripts/services/postgres.sh start)", file=sys.stderr)
        return 2
    if args.calls > 1_000:
        print("the free tier holds 1,000 credits: at most 1,000 calls", file=sys.stderr)
        return 2
    return asyncio.run(run(args.postgres_url, args.calls, args.connections, args.replicas))


if __name__ == "__main__":
    raise SystemExit(main())
