"""Cold start to ready and resident memory of the 19 services (issue 2's figures), against the
seed's claims ("starts in milliseconds", "constant memory under load"). Run by hand, not in CI:

    .venv/bin/python bench/startup.py [--runs 5] [--requests 10000] [--profile]

It uses the seed ports, so nothing else (no other ``v100 up``) may run meanwhile."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from _support import stop
from v100.contracts.topology import SERVICES, ServiceInfo

PYTHON = sys.executable
V100 = str(Path(sys.executable).with_name("v100"))
SERVICE_TARGET_S = 1.5
PLATFORM_TARGET_S = 8.0
READY_TIMEOUT_S = 20.0
CONCURRENCY = 32
Env = Mapping[str, str]


@dataclass
class Started:
    process: subprocess.Popen[bytes]
    seconds: float | None  # None: never ready within the timeout
    reason: str = ""


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def child_env(pycache: Path | None) -> dict[str, str]:
    """The environment of measured processes. With ``pycache``, bytecode is cached in that
    private folder (as a normal install caches it), without writing into the venv or src."""
    env = dict(os.environ)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def start(args: Sequence[str], workdir: Path, services: Sequence[ServiceInfo], env: Env) -> Started:
    """Spawn ``v100 <args>`` with a fresh var dir and time it until every /ready answers 200."""
    env = {**env, "V100_VAR_DIR": str(workdir / "var")}
    with (workdir / "stderr.log").open("wb") as log:
        began = time.perf_counter()
        process = subprocess.Popen(
            [V100, *args], cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=log
        )
    waiting = {info.name: f"{info.url}/ready" for info in services}
    last: dict[str, str] = {}
    with httpx.Client(timeout=2.0) as client:
        while waiting and time.perf_counter() - began < READY_TIMEOUT_S:
            if process.poll() is not None:
                return Started(process, None, f"exited with {process.returncode}")
            for name, url in list(waiting.items()):
                try:
                    response = client.get(url)
                except httpx.TransportError:
                    continue
                if response.status_code == 200:
                    del waiting[name]
                else:
                    last[name] = _failing_checks(response)
            time.sleep(0.005)
    if waiting:
        name = next(iter(waiting))
        return Started(process, None, f"{name}: {last.get(name, 'no answer')[:160]}")
    return Started(process, time.perf_counter() - began)


def _failing_checks(response: httpx.Response) -> str:
    try:
        checks = response.json()["checks"]
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} {response.text[:120]}"
    return "; ".join(f"{name} {result}" for name, result in checks.items() if result != "ok")


def cold_starts(
    args: Sequence[str], services: Sequence[ServiceInfo], env: Env, runs: int
) -> tuple[list[float | None], str]:
    """Up to ``runs`` cold starts, each with a fresh var dir, stopping at the first failure
    (returned with its reason)."""
    times: list[float | None] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="v100-bench-") as tmp:
            started = start(args, Path(tmp), services, env)
            stop(started.process)
        times.append(started.seconds)
        if started.seconds is None:  # another try would only wait out the same timeout
            return times, started.reason
    return times, ""


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no VmRSS for pid {pid}")
    return int(match.group(1)) / 1024


def median(values: Sequence[float | None]) -> float | None:
    done = [v for v in values if v is not None]
    return statistics.median(done) if done and len(done) == len(values) else None


async def _connection(
    port: int, paths: Sequence[str], count: int, first: int, statuses: Counter[int]
) -> None:
    """``count`` requests, one after another on one keep-alive connection. Plain asyncio rather
    than httpx: httpx's pool costs more CPU per request than the service under test."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i in range(first, first + count):
            writer.write(f"GET {paths[i % 2]} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
            if match is None:
                raise RuntimeError(f"answer without Content-Length: {head[:200]!r}")
            await reader.readexactly(int(match.group(1)))
            statuses[int(head.split(b" ", 2)[1])] += 1
    finally:
        writer.close()
        await writer.wait_closed()


async def load(info: ServiceInfo, requests: int) -> tuple[Counter[int], float]:
    """``requests`` requests, half /health and half a guarded route without a token (401),
    over ``CONCURRENCY`` keep-alive connections."""
    paths = ["/health", (info.prefixes or ("/v1/anything",))[0]]
    statuses: Counter[int] = Counter()
    shares = [requests // CONCURRENCY + (n < requests % CONCURRENCY) for n in range(CONCURRENCY)]
    began = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(info.port, paths, share, sum(shares[:n]), statuses)
            for n, share in enumerate(shares)
        )
    )
    return statuses, requests / (time.perf_counter() - began)


def time_command(argv: Sequence[str], env: Env, runs: int) -> float:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def import_profile(module: str, env: Env, top: int = 10) -> tuple[float, list[tuple[str, float]]]:
    """Where importing ``module`` spends its time (``python -X importtime``): the total, and the
    packages whose own module bodies cost most (self time summed per top-level package)."""
    result = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    micros: Counter[str] = Counter()
    for line in result.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        micros[parts[2].strip().split(".")[0]] += int(parts[0])
    heaviest = [(name, us / 1e6) for name, us in micros.most_common(top)]
    return sum(micros.values()) / 1e6, heaviest


def _venv_has_bytecode() -> bool:
    import importlib.util

    import sqlalchemy

    return Path(importlib.util.cache_from_source(sqlalchemy.__file__ or "")).exists()


def fmt(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.3f}"


def print_profile(title: str, env: Env) -> None:
    total, heaviest = import_profile("v100.services.billing.app", env)
    print(f"\nimporting v100.services.billing.app {title}: {total:.3f} s; self time by package:")
    for name, seconds in heaviest:
        print(f"  {name:24} {seconds:6.3f} s {seconds / total:5.0%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="cold starts per service")
    parser.add_argument("--up-runs", type=int, default=3, help="cold starts of `v100 up`")
    parser.add_argument("--requests", type=int, default=10_000, help="requests per service")
    parser.add_argument("--profile", action="store_true", help="always print the import profile")
    args = parser.parse_args()

    busy = [f"{info.name}:{info.port}" for info in SERVICES if port_in_use(info.port)]
    if busy:
        print(f"seed ports in use (another `v100 up`?): {', '.join(busy)}", file=sys.stderr)
        return 2

    pycache = Path(tempfile.mkdtemp(prefix="v100-bench-pycache-"))
    try:
        return run(args, pycache)
    finally:
        shutil.rmtree(pycache, ignore_errors=True)


def run(args: argparse.Namespace, pycache: Path) -> int:
    cached, uncached = child_env(pycache), child_env(None)
    print(
        f"python {sys.version.split()[0]} on {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.2f}; runs={args.runs}"
    )
    compiling = bool(os.environ.get("PYTHONDONTWRITEBYTECODE")) and not _venv_has_bytecode()
    if compiling:
        # Seen here: every process compiling every module from source triples start-up.
        print(
            "note: PYTHONDONTWRITEBYTECODE is set and the venv holds no .pyc files, so each "
            "process would\n      compile every module from source; the table uses a private "
            "bytecode cache (PYTHONPYCACHEPREFIX),\n      as a normal install has, and the "
            "figures without one follow it."
        )
    # Fill the bytecode cache with everything `v100 up` imports, so run 1 is not the odd one.
    cold_starts(["up"], SERVICES, cached, 1)

    peer_pass = time_command([PYTHON, "-c", "pass"], cached, args.runs)
    peer_import = time_command([PYTHON, "-c", "import fastapi, sqlalchemy"], cached, args.runs)
    peer_rss = subprocess.run(
        [PYTHON, "-c", "import fastapi, sqlalchemy, resource; "
         "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
        env=cached, capture_output=True, text=True, check=True,
    )  # fmt: skip
    print(
        f"peer baseline (median): python -c pass {peer_pass:.3f} s; "
        f"python -c 'import fastapi, sqlalchemy' {peer_import:.3f} s, "
        f"peak RSS {int(peer_rss.stdout) / 1024:.1f} MiB\n"
    )

    header = (
        f"{'service':20} {'port':>5} {'ready s':>7} {'min':>6} {'max':>6} {'<1.5s':>5} "
        f"{'RSS idle':>9} {'RSS 10k':>8} {'delta':>6} {'req/s':>6}  statuses"
    )
    print(header)
    print("-" * len(header))
    missed: list[str] = []
    for info in SERVICES:
        times, reason = cold_starts(["serve", info.name], [info], cached, args.runs)
        with tempfile.TemporaryDirectory(prefix="v100-bench-") as tmp:
            started = start(["serve", info.name], Path(tmp), [info], cached)
            try:
                time.sleep(1.0)  # let start-up work (migrations, first GC) settle
                idle = rss_mib(started.process.pid)
                statuses, rate = asyncio.run(load(info, args.requests))
                loaded = rss_mib(started.process.pid)
            finally:
                stop(started.process)
        ready = median(times)
        met = ready is not None and ready < SERVICE_TARGET_S
        if not met:
            missed.append(info.name)
        done = [t for t in times if t is not None]
        lo, hi = (fmt(min(done)), fmt(max(done))) if done else ("n/a", "n/a")
        codes = " ".join(f"{code}:{count}" for code, count in sorted(statuses.items()))
        print(
            f"{info.name:20} {info.port:5} {fmt(ready):>7} {lo:>6} {hi:>6} "
            f"{'yes' if met else 'NO':>5} {idle:8.1f}M {loaded:7.1f}M {loaded - idle:+6.1f} "
            f"{rate:6.0f}  {codes}" + (f"  [{reason}]" if reason else "")
        )

    up_times: list[float | None] = []
    up_rss: list[float] = []
    up_reason = ""
    for _ in range(args.up_runs):
        with tempfile.TemporaryDirectory(prefix="v100-bench-") as tmp:
            started = start(["up"], Path(tmp), SERVICES, cached)
            try:
                if started.seconds is not None:
                    time.sleep(1.0)
                    up_rss.append(rss_mib(started.process.pid))
            finally:
                stop(started.process)
        up_times.append(started.seconds)
        up_reason = up_reason or started.reason
    up = median(up_times)
    print(
        f"\n`v100 up`, all {len(SERVICES)} services ready: median {fmt(up)} s of "
        f"{[fmt(t) for t in up_times]}"
        + (f"; RSS of the one process idle {statistics.median(up_rss):.1f} MiB" if up_rss else "")
        + (f"  [{up_reason}]" if up_reason else "")
    )
    platform_met = up is not None and up < PLATFORM_TARGET_S
    print(
        f"targets: each service < {SERVICE_TARGET_S} s: "
        f"{'met' if not missed else 'MISSED by ' + ', '.join(missed)}; "
        f"all {len(SERVICES)} < {PLATFORM_TARGET_S:.0f} s: {'met' if platform_met else 'MISSED'}"
    )

    if compiling:
        billing = next(info for info in SERVICES if info.name == "billing")
        serve_raw, _ = cold_starts(["serve", "billing"], [billing], uncached, 3)
        up_raw, _ = cold_starts(["up"], SERVICES, uncached, 1)
        raw_import = time_command([PYTHON, "-c", "import fastapi, sqlalchemy"], uncached, 3)
        print(
            f"without a bytecode cache: `v100 serve billing` {fmt(median(serve_raw))} s (median "
            f"of 3), `v100 up` {fmt(up_raw[0])} s, "
            f"python -c 'import fastapi, sqlalchemy' {raw_import:.3f} s"
        )

    print(
        f"load average at the end {os.getloadavg()[0]:.2f} (other work on these cores skews "
        "the figures)"
    )
    if missed or not platform_met or args.profile:
        print_profile("with a bytecode cache", cached)
        if compiling:
            print_profile("without one", uncached)
    return 0


if __name__ == "__main__":
    sys.exit(main())
