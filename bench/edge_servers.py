"""The edge's HTTP server candidates in one run: the same bare app (a ~300-byte JSON answer) on
uvicorn with httptools and uvloop (what every V100 server runs), on granian's ASGI interface
and on granian's RSGI interface, each one worker on 127.0.0.1, loaded by ``wrk -t1 -c32`` in
interleaved rounds. Prints requests/s and the server's CPU per request (user + system) for each,
medians of the rounds. Run by hand with a Python that has granian (it is not a dependency):

    python bench/edge_servers.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

BODY = b'{"id": "cr_01", "tenant": "bench", "balance": 1234, "currency": "usd", ' + (
    b'"padding": "' + b"x" * 200 + b'"}'
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


class RsgiApp:
    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        protocol.response_bytes(200, [("content-type", "application/json")], BODY)


rsgi_app = RsgiApp()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its children (granian serves from a child process)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        children = subprocess.run(
            ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for one in pids:
        try:
            with open(f"/proc/{one}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            continue
    return total


def servers(port: int) -> dict[str, list[str]]:
    py = sys.executable
    here = os.path.splitext(os.path.basename(__file__))[0]
    return {
        "uvicorn + httptools (ASGI)": [
            py, "-m", "uvicorn", f"{here}:asgi_app", "--port", str(port), "--host", "127.0.0.1",
            "--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
        ],
        "granian ASGI": [
            py, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--log-level", "warning",
            "--no-ws", f"{here}:asgi_app",
        ],
        "granian RSGI": [
            py, "-m", "granian", "--interface", "rsgi", "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--log-level", "warning",
            "--no-ws", f"{here}:rsgi_app",
        ],
    }  # fmt: skip


def load(port: int, seconds: int) -> float:
    out = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{seconds}s", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    figures: dict[str, list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for name, command in servers(free_port()).items():
            port = int(command[command.index("--port") + 1])
            process = subprocess.Popen(command, cwd=os.path.dirname(os.path.abspath(__file__)))
            try:
                wait_port(port)
                load(port, 1)  # warm-up
                before = cpu_seconds(process.pid)
                rate = load(port, args.seconds)
                used = cpu_seconds(process.pid) - before
                figures.setdefault(name, []).append((rate, used / (rate * args.seconds) * 1e6))
            finally:
                process.terminate()
                process.wait(10)
    print(f"bare app, wrk -t1 -c32 -d{args.seconds}s, {args.rounds} interleaved rounds (medians):")
    for name, runs in figures.items():
        rates = [r for r, _ in runs]
        cpus = [c for _, c in runs]
        print(
            f"  {name:28} {statistics.median(rates):8.0f} req/s  "
            f"{statistics.median(cpus):6.1f} us CPU per request   "
            f"(rounds: {', '.join(f'{r:.0f}' for r in rates)})"
        )


if __name__ == "__main__":
    main()
