"""Upload throughput of kit.tus (issue 5's figure): a large file uploaded with the real tuspy
client through a tus server on loopback (local disk store, its own process) against ``cp`` of
the same file to the same disk; target >= 0.6x of cp (ratios printed against cp, cp + sync
and the bare HTTP receive). On local disk kit.tus writes one growing file, so the upload has no
join; the local store's multipart join (``os.copy_file_range``, used outside tus) is timed on
its own against a read/write loop over the same part files. Run by hand:

    .venv/bin/python bench/upload_throughput.py [--size-mib 512] [--runs 3] [--chunk-mib 0]
    .venv/bin/python bench/upload_throughput.py --url http://127.0.0.1:4000/v1/uploads \\
        --header "X-API-Key: v100_sk_..."      # through a running gateway instead

Without ``--url`` it starts ``serve`` (below) in a subprocess: uvicorn + SQLite + LocalDiskStore
(fsync on, as in production) under the work directory, which sits on the disk ``cp`` uses."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from _support import free_port, stop

TARGET_RATIO = 0.6
MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "tests" / "kit" / "migrations_tus"


def serve(root: Path, port: int, part_mib: int, fsync: bool, checkpoint_mib: int) -> None:
    """The server side: a tus endpoint at /v1/uploads over SQLite and local disk."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from v100.kit.db import create_engine, create_sessionmaker, migrate
    from v100.kit.storage import LocalDiskStore
    from v100.kit.tus import TusServer, TusSettings, UploadOwner

    database = f"sqlite+aiosqlite:///{root}/tus.db"
    asyncio.run(migrate("tusbench", database, MIGRATIONS))
    sessions = create_sessionmaker(create_engine(database))
    store = LocalDiskStore(root / "objects", fsync=fsync)
    asyncio.run(store.ensure_bucket())

    def owner(_: Request) -> UploadOwner:
        return UploadOwner(tenant_id="bench")

    server = TusServer(
        authorize=owner,
        settings=TusSettings(min_part_size=part_mib * MiB, checkpoint_bytes=checkpoint_mib * MiB),
        sessions=lambda _: sessions,
        store=lambda _: store,
    )

    async def discard(request: Request) -> Response:
        """The floor: the same body received by the same server, then dropped."""
        async for _ in request.stream():
            pass
        return Response(status_code=204)

    app = Starlette(
        routes=[*server.routes("/v1/uploads"), Route("/discard", discard, methods=["PATCH"])]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def make_source(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, 8 * MiB))
            digest.update(block)
            fh.write(block)
            left -= len(block)
    return digest.hexdigest()


def cpu_of(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_cp(source: Path, target: Path, *, sync: bool) -> float:
    target.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    if sync:  # what the store does for each part: the bytes are on disk when it answers
        subprocess.run(["sync", str(target)], check=True)
    return time.perf_counter() - started


def timed_tus(url: str, source: Path, headers: dict[str, str], chunk: int) -> tuple[float, str]:
    from tusclient import client as tus_client

    client = tus_client.TusClient(url, headers=headers)
    started = time.perf_counter()
    uploader = client.uploader(str(source), chunk_size=chunk or sys.maxsize, store_url=False)
    uploader.upload()
    return time.perf_counter() - started, str(uploader.url)


def timed_discard(url: str, source: Path) -> float:
    import requests

    started = time.perf_counter()
    data = source.read_bytes()  # as tuspy does: the chunk is read, then sent
    response = requests.patch(url, data=data, timeout=600)
    response.raise_for_status()
    return time.perf_counter() - started


def wait_until_up(url: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            httpx.options(url, trust_env=False, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"no tus server at {url}")


async def assembly(work: Path, size: int, part: int, runs: int) -> tuple[list[float], list[float]]:
    """The store's join (copy_file_range, then fsync and rename) against a read/write loop
    over the same part files (then fsync), alternating."""
    from v100.kit.storage import LocalDiskStore, UploadedPart

    store = LocalDiskStore(work / "assembly")
    await store.ensure_bucket()
    blocks = [os.urandom(min(part, size - offset)) for offset in range(0, size, part)]
    kernel: list[float] = []
    loop: list[float] = []
    for run in range(runs):
        key = f"bench/{run}"
        upload_id = await store.create_multipart(key)
        parts = [
            UploadedPart(number, await store.upload_part(key, upload_id, number, block))
            for number, block in enumerate(blocks, start=1)
        ]
        part_files = sorted((store.root / "uploads" / upload_id).glob("[0-9]*.*"))
        target = work / f"loop-{run}.bin"
        started = time.perf_counter()
        with target.open("wb") as out:
            for file in part_files:
                with file.open("rb") as src:
                    while data := src.read(8 * MiB):
                        out.write(data)
            out.flush()
            os.fsync(out.fileno())
        loop.append(time.perf_counter() - started)
        started = time.perf_counter()
        await store.complete_multipart(key, upload_id, parts)
        kernel.append(time.perf_counter() - started)
        target.unlink()
        await store.delete(key)
    return kernel, loop


async def stored_digest(objects: Path, upload_url: str) -> str:
    from v100.kit.storage import LocalDiskStore

    digest = hashlib.sha256()
    async for chunk in LocalDiskStore(objects).open(f"uploads/{upload_url.rsplit('/', 1)[1]}"):
        digest.update(chunk)
    return digest.hexdigest()


def rate(seconds: list[float], size: int) -> str:
    median = statistics.median(seconds)
    return f"{median:6.2f} s  {size / MiB / median:7.0f} MiB/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="bench", choices=["bench", "serve"])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk-mib", type=int, default=0, help="PATCH size; 0: one PATCH")
    parser.add_argument("--part-mib", type=int, default=5, help="the server's min part size")
    parser.add_argument(
        "--checkpoint-mib", type=int, default=16, help="local disk: bytes between offset records"
    )
    parser.add_argument(
        "--no-fsync", action="store_true", help="the server's store skips fsync (not for real)"
    )
    parser.add_argument("--url", help="a running tus creation URL (e.g. through the gateway)")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--work", type=Path, help="work directory (default: a temp dir)")
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.command == "serve":
        serve(
            options.root,
            options.port,
            options.part_mib,
            not options.no_fsync,
            options.checkpoint_mib,
        )
        return

    size = options.size_mib * MiB
    work = options.work or Path(
        tempfile.mkdtemp(
            prefix="v100-upload-bench-", dir=ROOT / "var" if (ROOT / "var").is_dir() else None
        )
    )
    work.mkdir(parents=True, exist_ok=True)
    headers = dict(h.split(":", 1) for h in options.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    server = None
    url = options.url
    if url is None:
        port = free_port()
        server_root = work / "server"
        server_root.mkdir(exist_ok=True)
        server = subprocess.Popen(
            [
                *(sys.executable, __file__, "serve", "--root", str(server_root)),
                *("--port", str(port), "--part-mib", str(options.part_mib)),
                *("--checkpoint-mib", str(options.checkpoint_mib)),
                *(["--no-fsync"] if options.no_fsync else []),
            ]
        )
        url = f"http://127.0.0.1:{port}/v1/uploads"
    try:
        wait_until_up(url)
        source = work / "source.bin"
        expected = make_source(source, size)
        print(
            f"file: {options.size_mib} MiB in {work}; parts of {options.part_mib} MiB;"
            f" store fsync {'off' if options.no_fsync else 'on'};"
            f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        cp_plain: list[float] = []
        cp_sync: list[float] = []
        tus: list[float] = []
        cp_cpu: list[float] = []
        tus_cpu: list[float] = []
        floor: list[float] = []
        for _ in range(options.runs):
            cpu = children_cpu()
            cp_plain.append(timed_cp(source, work / "copy.bin", sync=False))
            cp_cpu.append(children_cpu() - cpu)
            cp_sync.append(timed_cp(source, work / "copy.bin", sync=True))
            cpu = self_cpu() + (cpu_of(server.pid) if server is not None else 0.0)
            seconds, upload_url = timed_tus(url, source, headers, options.chunk_mib * MiB)
            tus.append(seconds)
            tus_cpu.append(self_cpu() + (cpu_of(server.pid) if server else 0.0) - cpu)
            if server is not None:
                floor.append(timed_discard(url.replace("/v1/uploads", "/discard"), source))
        if server is not None:  # check the last upload landed byte for byte
            got = asyncio.run(stored_digest(work / "server" / "objects", upload_url))
            assert got == expected, "uploaded object differs from the file"
            print("last upload verified: sha256 matches")
        else:  # through a gateway: the server at least reports every byte
            head = httpx.head(
                upload_url, headers={**headers, "Tus-Resumable": "1.0.0"}, trust_env=False
            )
            assert head.headers.get("upload-offset") == str(size), head.headers
            print(f"last upload verified: HEAD reports Upload-Offset {size}")

        print(f"cp            {rate(cp_plain, size)}")
        print(f"cp + sync     {rate(cp_sync, size)}")
        print(f"tus (tuspy)   {rate(tus, size)}")
        if floor:
            print(f"HTTP only     {rate(floor, size)}  (same body, same server, discarded)")
        # Throughput ratios (cp's time over the other's): 1.0x is as fast as cp.
        vs_plain = statistics.median(cp_plain) / statistics.median(tus)
        vs_sync = statistics.median(cp_sync) / statistics.median(tus)
        print(f"tus / cp        {vs_plain:.2f}x  (target >= {TARGET_RATIO}x)")
        print(f"tus / cp+sync   {vs_sync:.2f}x")
        if floor:
            http_only = statistics.median(floor)
            print(f"HTTP only / cp  {statistics.median(cp_plain) / http_only:.2f}x  (the ceiling)")
            print(f"tus / HTTP only {http_only / statistics.median(tus):.2f}x")
        if server is not None:
            print(
                f"CPU seconds: cp {statistics.median(cp_cpu):.2f}, tus client + server"
                f" {statistics.median(tus_cpu):.2f} (of {statistics.median(tus):.2f} s wall)"
            )
        (work / "copy.bin").unlink(missing_ok=True)

        kernel, loop = asyncio.run(assembly(work, size, options.part_mib * MiB, options.runs))
        print(f"assembly copy_file_range  {rate(kernel, size)}")
        print(f"assembly read/write loop  {rate(loop, size)}")
        speedup = statistics.median(loop) / statistics.median(kernel)
        print(f"read/write / copy_file_range  {speedup:.2f}x")
    finally:
        if server is not None:
            stop(server)
        if options.work is None:
            subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
