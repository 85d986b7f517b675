"""The gateway against nginx in front of the same upstream, measured in one run (issue 3's
figures). Run by hand, not in CI (installs Debian's nginx and wrk when missing):

    .venv/bin/python bench/gateway_vs_nginx.py [--seconds 10] [--connections 32]
        [--rate 1000] [--rate-seconds 10] [--samples 3000] [--no-profile]

It starts, on 127.0.0.1 only:

- the upstream: a minimal uvicorn app (raw ASGI, uvloop + httptools), ~300-byte JSON answers,
  ``/v1/credits/cached`` with ``Cache-Control: public, max-age=300``, ``/v1/credits/miss``
  without (never stored by either cache);
- the V100 gateway as a real ``v100 serve gateway`` process (uvloop + httptools), its billing
  upstream pointed there, an API key, rate limits on (limits far above the load, so every
  request runs the limiter), response cache on (L1: no Redis), logs at WARNING;
- nginx 1 worker (``user root``, a config in a temp dir, no system service), ``proxy_pass``
  with upstream keep-alive and ``proxy_cache`` on ``/v1/credits/cached``, ``access_log off``.

It prints: the gateway's own processing time from ``Server-Timing: gw;dur=`` (sequential, one
keep-alive connection; target median < 150 us), the latency added over calling the upstream
directly at a fixed 1,000 requests/s (target p50 < 1 ms), requests/s with ``wrk`` on cache hits
(gateway vs nginx proxy_cache, target >= 0.5x) and proxied misses (vs nginx proxy_pass), and,
unless ``--no-profile``, where the gateway's CPU goes (py-spy on the gateway process while wrk
loads it; ``uv add --dev py-spy``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import httpx
import psutil
from starlette.types import Receive, Scope, Send

from _support import api_key, free_port, stop

PYTHON = sys.executable
V100 = str(Path(sys.executable).with_name("v100"))
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
SECRET = "bench-internal-token-secret-0123456789abcdef"  # noqa: S105 (a local bench value)
JWT = "bench-gateway-jwt-secret-0123456789abcdefghijkl"
READY_TIMEOUT_S = 60.0
HUGE = 100_000_000  # requests per minute: the limiter runs, never refuses
BODY = b'{"id": "cr_01", "tenant": "bench", "balance": 1234, "currency": "usd", ' + (
    b'"padding": "' + b"x" * 200 + b'"}'
)


# --- the upstream (run as a child: ``gateway_vs_nginx.py --upstream PORT``) -------------------


def serve_upstream(port: int) -> None:
    import uvicorn

    length = str(len(BODY)).encode()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", length)]
        if scope["path"].endswith("/cached"):
            headers.append((b"cache-control", b"public, max-age=300"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": BODY})

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        date_header=False,
    )


# --- processes ------------------------------------------------------------------------------


def quiet_run(command: Sequence[str]) -> int:
    return subprocess.run(command, check=False, capture_output=True).returncode


def ensure_debian_package(binary: str, package: str) -> str:
    found = shutil.which(binary) or (
        f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None
    )
    if found:
        return found
    # Keep Debian's maintainer scripts from starting the system service (nginx would bind
    # port 80 on every interface): policy-rc.d answers "not allowed" while we install.
    policy = Path("/usr/sbin/policy-rc.d")
    ours = not policy.exists()
    if ours:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        if quiet_run(["apt-get", "install", "-y", package]):
            quiet_run(["apt-get", "update"])
            quiet_run(["apt-get", "install", "-y", package])
    finally:
        if ours:
            policy.unlink()
    found = shutil.which(binary) or (
        f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None
    )
    if not found:
        raise SystemExit(f"could not install {package} (apt-get install -y {package})")
    return found


def wait_http(url: str, process: subprocess.Popen[bytes], expect: int = 200) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url}: exited with {process.returncode}")
            try:
                if client.get(url).status_code == expect:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer {expect} within {READY_TIMEOUT_S} s")


def gateway_env(workdir: Path, upstream_port: int) -> dict[str, str]:
    limits = {"requests": HUGE}
    tier = f'{{"tenant": {limits}, "api_key": {limits}, "concurrent_requests": 100000}}'
    tiers = ", ".join(f'"{name}": {tier}' for name in ("free", "pro", "business", "enterprise"))
    env = {
        **os.environ,
        "V100_VAR_DIR": str(workdir / "var"),
        "V100_INTERNAL_TOKEN_SECRET": SECRET,
        "V100_LOG_LEVEL": "WARNING",
        "V100_GATEWAY_JWT_SECRET": JWT,
        "V100_GATEWAY_UPSTREAMS": f'{{"billing": "http://127.0.0.1:{upstream_port}"}}',
        "V100_GATEWAY_RATE_LIMITS": f'{{"tiers": {{{tiers}}}}}'.replace("'", '"'),
        "V100_GATEWAY_PASSWORD_TIME_COST": "1",
        "V100_GATEWAY_PASSWORD_MEMORY_KIB": "1024",
        "V100_GATEWAY_PASSWORD_PARALLELISM": "1",
    }
    env.pop("V100_REDIS_URL", None)
    return env


def nginx_config(workdir: Path, port: int, upstream_port: int) -> Path:
    temp = workdir / "nginx"
    for sub in ("cache", "client", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp / sub).mkdir(parents=True, exist_ok=True)
    config = temp / "nginx.conf"
    config.write_text(
        textwrap.dedent(
            f"""\
            user root;
            worker_processes 1;
            daemon off;
            pid {temp}/nginx.pid;
            error_log {temp}/error.log warn;
            events {{ worker_connections 4096; }}
            http {{
                access_log off;
                client_body_temp_path {temp}/client;
                proxy_temp_path {temp}/proxy;
                fastcgi_temp_path {temp}/fastcgi;
                uwsgi_temp_path {temp}/uwsgi;
                scgi_temp_path {temp}/scgi;
                proxy_cache_path {temp}/cache levels=1:2 keys_zone=bench:10m max_size=64m
                                 inactive=60m use_temp_path=off;
                upstream origin {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
                server {{
                    listen 127.0.0.1:{port};
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                    location /v1/credits/cached {{
                        proxy_pass http://origin;
                        proxy_cache bench;
                        add_header X-Cache-Status $upstream_cache_status;
                    }}
                    location / {{ proxy_pass http://origin; }}
                }}
            }}
            """
        )
    )
    return config


# --- a small HTTP/1.1 load generator (keep-alive, raw asyncio streams) ----------------------


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, request: bytes) -> tuple[int, dict[bytes, bytes]]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name:
                headers[name.strip().lower()] = value.strip()
        if b"content-length" in headers:
            await self.reader.readexactly(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding") == b"chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        return status, headers


def request_bytes(port: int, path: str, key: str | None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if key:
        lines.append(f"X-API-Key: {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def timing_of(header: bytes | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in (header or b"").decode().split(","):
        match = re.match(r"\s*([\w-]+)\s*;\s*dur=([\d.]+)", part)
        if match:
            out[match[1]] = float(match[2])
    return out


async def sequential_timings(
    port: int, path: str, key: str, samples: int
) -> dict[str, list[float]]:
    connection = Connection(port)
    request = request_bytes(port, path, key)
    found: dict[str, list[float]] = {}
    for n in range(samples + 300):
        status, headers = await connection.get(request)
        if status != 200:
            raise RuntimeError(f"{path}: status {status}")
        if n >= 300:  # the first ones warm caches and pools
            for name, value in timing_of(headers.get(b"server-timing")).items():
                found.setdefault(name, []).append(value)
    return found


async def fixed_rate(
    port: int, path: str, key: str | None, rate: int, seconds: float
) -> list[float]:
    """Latency (ms) of ``rate`` requests per second for ``seconds``, each on a free keep-alive
    connection of a pool, measured from its own send to the end of its answer."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(Connection(port))
    request = request_bytes(port, path, key)
    latencies: list[float] = []
    failures = Counter[int]()

    async def one() -> None:
        connection = await pool.get()
        started = time.perf_counter()
        status, _ = await connection.get(request)
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            failures[status] += 1
        pool.put_nowait(connection)

    # Open the connections first, outside the measured window.
    warm = [await pool.get() for _ in range(64)]
    for connection in warm:
        await connection.get(request)
        pool.put_nowait(connection)
    tasks = []
    total = int(rate * seconds)
    start = time.perf_counter()
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    if failures:
        raise RuntimeError(f"{path}: failed answers {dict(failures)}")
    return latencies


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- wrk and py-spy -------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (nginx's master and worker)."""
    process = psutil.Process(pid)
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        times = each.cpu_times()
        total += times.user + times.system
    return total


def wrk(url: str, key: str | None, seconds: int, connections: int) -> tuple[float, int]:
    """Requests/s and requests answered."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
    if key:
        command[1:1] = ["-H", f"X-API-Key: {key}"]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if bad:
        raise RuntimeError(f"wrk saw {bad[1]} failed answers from {url}:\n{output}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    if rate is None or count is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return float(rate[1]), int(count[1])


def profile(pid: int, url: str, key: str, seconds: int, connections: int, out: Path) -> Path:
    spy = subprocess.Popen(
        [
            PY_SPY,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds + 1),
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    wrk(url, key, seconds, connections)
    spy.wait(seconds + 30)
    return out


_BUCKETS = [  # (label, substring of a frame "function (file:line)"), first match from the leaf up
    ("gateway protocol: writes to the caller, task", "kit/http/_uvicorn.py"),
    ("proxied path (proxied_path.py)", "gateway/edge/proxied_path.py"),
    ("response cache", "gateway/edge/cache/"),
    ("rate limits", "gateway/edge/limits/"),
    ("authentication (API key)", "gateway/identity/authn.py"),
    ("proxy: upstream HTTP client", "gateway/edge/proxy/upstream_client.py"),
    ("proxy: headers", "gateway/edge/proxy/headers.py"),
    ("proxy: breaker, retries", "gateway/edge/proxy/middleware.py"),
    ("Server-Timing", "gateway/edge/timing.py"),
    ("compression", "gateway/edge/compression.py"),
    ("internal token (mint/reuse)", "gateway/edge/proxy/upstreams.py"),
    ("request id, metrics, access log", "kit/http/_middleware.py"),
    ("prometheus_client", "prometheus_client/"),
    ("structlog", "structlog/"),
    ("uvicorn (HTTP server)", "uvicorn/"),
    ("starlette/fastapi", "starlette/"),
    ("starlette/fastapi", "fastapi/"),
    ("asyncio / uvloop event loop", "asyncio/"),
]


def summarize_profile(raw: Path, top: int = 12) -> list[str]:
    samples: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if "threading.py" in frames[0]:
            continue  # a worker thread (aiosqlite, executors): not the event loop's CPU
        total += count
        leaves[frames[-1]] += count
        # Own code first: the innermost frame that belongs to a bucket names the sample.
        for frame in reversed(frames):
            bucket = next((label for label, part in _BUCKETS if part in frame), None)
            if bucket is not None:
                samples[bucket] += count
                break
        else:
            samples["other (event loop idle, GC, interpreter)"] += count
    if not total:
        return ["  (no samples: py-spy may lack ptrace permission)"]
    lines = [f"  {total} samples; by the innermost component on the stack:"]
    lines += [f"    {share / total:6.1%}  {label}" for label, share in samples.most_common()]
    lines.append(f"  top {top} functions by own time:")
    for frame, count in leaves.most_common(top):
        lines.append(f"    {count / total:6.1%}  {frame[:110]}")
    return lines


# --- the run --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per target")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument(
        "--keep-profiles", type=Path, help="a folder to copy py-spy's raw stacks into"
    )
    args = parser.parse_args()
    if args.upstream:
        serve_upstream(args.upstream)
        return

    nginx = ensure_debian_package("nginx", "nginx")
    ensure_debian_package("wrk", "wrk")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    workdir = Path(tempfile.mkdtemp(prefix="v100-bench-nginx-"))
    upstream_port, gateway_port, nginx_port = free_port(), free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        upstream = subprocess.Popen([PYTHON, __file__, "--upstream", str(upstream_port)])
        processes.append(upstream)
        wait_http(f"http://127.0.0.1:{upstream_port}/v1/credits/miss", upstream)
        gateway = subprocess.Popen(
            [V100, "serve", "gateway", "--port", str(gateway_port)],
            env=gateway_env(workdir, upstream_port),
            cwd=workdir,
        )
        processes.append(gateway)
        wait_http(f"http://127.0.0.1:{gateway_port}/ready", gateway)
        config = nginx_config(workdir, nginx_port, upstream_port)
        proxy = subprocess.Popen([nginx, "-c", str(config), "-p", str(workdir / "nginx")])
        processes.append(proxy)
        wait_http(f"http://127.0.0.1:{nginx_port}/v1/credits/miss", proxy)
        key = api_key(f"http://127.0.0.1:{gateway_port}")
        report(args, key, upstream_port, gateway_port, nginx_port, gateway.pid, proxy.pid, workdir)
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def say(*parts: object) -> None:
    print("".join(str(part) for part in parts), flush=True)


def verdict(ok: bool) -> str:
    return "meets" if ok else "misses"


def report(
    args: argparse.Namespace,
    key: str,
    upstream_port: int,
    gateway_port: int,
    nginx_port: int,
    gateway_pid: int,
    nginx_pid: int,
    workdir: Path,
) -> None:
    gw = f"http://127.0.0.1:{gateway_port}"
    ng = f"http://127.0.0.1:{nginx_port}"
    up = f"http://127.0.0.1:{upstream_port}"
    with httpx.Client(trust_env=False) as http:
        for _ in range(2):
            hit = http.get(f"{gw}/v1/credits/cached", headers={"X-API-Key": key})
            nginx_hit = http.get(f"{ng}/v1/credits/cached")
    cache_status = hit.headers.get("cache-status", "")
    version = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    say(f"cores: {os.cpu_count()}; {version}; load average at start: {os.getloadavg()[0]:.2f}")
    say(
        f"gateway cache: {cache_status!r}; nginx cache: {nginx_hit.headers.get('x-cache-status')!r}"
    )
    has_cache = "hit" in cache_status

    say(
        "\n1. Gateway processing time per request (Server-Timing gw;dur, sequential, one "
        f"keep-alive connection, {args.samples} samples after 300 warm-up):"
    )
    paths = (("proxied (miss)", "/v1/credits/miss"), ("cache hit", "/v1/credits/cached"))
    for label, path in paths:
        timings = asyncio.run(sequential_timings(gateway_port, path, key, args.samples))
        gw_ms = timings["gw"]
        p50 = statistics.median(gw_ms) * 1000
        parts = "  ".join(
            f"{name} {statistics.median(values) * 1000:.0f}" for name, values in timings.items()
        )
        say(
            f"   {label:15s} gw p50 {p50:.0f} us, p90 {percentile(gw_ms, 0.9) * 1000:.0f} us "
            f"({verdict(p50 < 150)} < 150 us) | p50 of each, us: {parts}"
        )

    say(
        f"\n2. Latency at a fixed {args.rate} requests/s for {args.rate_seconds:g} s "
        "(64 keep-alive connections, miss path, one after the other):"
    )
    targets = (
        ("upstream direct", upstream_port, None),
        ("V100 gateway", gateway_port, key),
        ("nginx proxy_pass", nginx_port, None),
    )
    results: dict[str, list[float]] = {}
    for label, port, k in targets:
        values = results[label] = asyncio.run(
            fixed_rate(port, "/v1/credits/miss", k, args.rate, args.rate_seconds)
        )
        say(
            f"   {label:17s} p50 {percentile(values, 0.5):.3f} ms  "
            f"p99 {percentile(values, 0.99):.3f} ms  ({len(values)} requests)"
        )
    direct = results["upstream direct"]
    for label in ("V100 gateway", "nginx proxy_pass"):
        added50 = percentile(results[label], 0.5) - percentile(direct, 0.5)
        added99 = percentile(results[label], 0.99) - percentile(direct, 0.99)
        extra = f" ({verdict(added50 < 1)} p50 < 1 ms)" if label.startswith("V100") else ""
        say(f"   added by {label:17s} p50 {added50:+.3f} ms  p99 {added99:+.3f} ms{extra}")

    say(
        f"\n3. Throughput, wrk -t1 -c{args.connections} -d{args.seconds}s, same run, same upstream:"
    )
    loads = (
        ("upstream direct", f"{up}/v1/credits/miss", None, None),
        ("nginx proxy_cache hits", f"{ng}/v1/credits/cached", None, nginx_pid),
        ("V100 gateway cache hits", f"{gw}/v1/credits/cached", key, gateway_pid),
        ("nginx proxy_pass", f"{ng}/v1/credits/miss", None, nginx_pid),
        ("V100 gateway proxied", f"{gw}/v1/credits/miss", key, gateway_pid),
    )
    rates: dict[str, float] = {}
    cpu_us: dict[str, float] = {}
    for label, url, k, pid in loads:
        before = cpu_seconds(pid) if pid else 0.0
        rates[label], count = wrk(url, k, args.seconds, args.connections)
        line = f"   {label:25s} {rates[label]:10.0f} req/s"
        if pid:
            # CPU per answer: what a busy machine disturbs least (wrk and neighbours take
            # wall-clock time from both servers, not CPU time per request).
            cpu_us[label] = (cpu_seconds(pid) - before) / count * 1e6
            line += f"   {cpu_us[label]:7.1f} us CPU per request"
        say(line)
    hits_ratio = rates["V100 gateway cache hits"] / rates["nginx proxy_cache hits"]
    miss_ratio = rates["V100 gateway proxied"] / rates["nginx proxy_pass"]
    hits_cpu = cpu_us["nginx proxy_cache hits"] / cpu_us["V100 gateway cache hits"]
    miss_cpu = cpu_us["nginx proxy_pass"] / cpu_us["V100 gateway proxied"]
    note = "" if has_cache else " (the gateway has no response cache yet: these are proxied)"
    say(
        f"   cache hits: gateway / nginx proxy_cache = {hits_ratio:.2f}x "
        f"({verdict(hits_ratio >= 0.5)} >= 0.5x){note}; by CPU per request {hits_cpu:.2f}x"
    )
    say(f"   proxied:    gateway / nginx proxy_pass  = {miss_ratio:.2f}x; by CPU {miss_cpu:.2f}x")
    say(f"   load average at the end: {os.getloadavg()[0]:.2f}")

    if args.no_profile:
        return
    if not Path(PY_SPY).exists():
        say("\n4. Profile: py-spy not found (uv add --dev py-spy)")
        return
    for label, path in (("proxied", "/v1/credits/miss"), ("cache hits", "/v1/credits/cached")):
        out = workdir / f"profile-{label.replace(' ', '-')}.txt"
        raw = profile(gateway_pid, f"{gw}{path}", key, args.seconds, args.connections, out)
        say(f"\n4. Where the gateway's CPU goes under wrk, {label} (py-spy --gil, 250 Hz):")
        say("\n".join(summarize_profile(raw)))
        if args.keep_profiles:
            args.keep_profiles.mkdir(parents=True, exist_ok=True)
            shutil.copy(raw, args.keep_profiles / raw.name)


if __name__ == "__main__":
    main()
