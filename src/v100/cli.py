"""The ``v100`` command: run the platform (all services in one process, or one service or worker
per process), migrate databases, check health, and create tenants and API keys."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from rich.live import Live
from rich.table import Table

from v100.contracts.topology import SERVICES, ServiceInfo, service_info

app = typer.Typer(help="V100: video, meetings and AI, self-hosted.", no_args_is_help=True)
console = Console()


def _load_app(name: str) -> Any:
    module = importlib.import_module(f"v100.services.{name}.app")
    return module.create_app()


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to us: we run many in one loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(name: str, host: str, port: int) -> _QuietServer:
    config = uvicorn.Config(
        _load_app(name),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=False,
        server_header=False,
        ws="websockets-sansio",
    )
    return _QuietServer(config)


async def _probe(client: Any, info: ServiceInfo) -> tuple[str, float | None]:
    started = time.perf_counter()
    try:
        response = await client.get(f"{info.url}/ready", timeout=2.0)
    except Exception:
        return "down", None
    elapsed = (time.perf_counter() - started) * 1000
    return ("ready" if response.status_code == 200 else "not ready"), elapsed


def _status_table(rows: Sequence[tuple[ServiceInfo, str, float | None]], title: str) -> Table:
    table = Table(title=title)
    table.add_column("service")
    table.add_column("port", justify="right")
    table.add_column("status")
    table.add_column("/ready ms", justify="right")
    table.add_column("prefixes")
    colours = {"ready": "green", "not ready": "yellow", "down": "red", "starting": "cyan"}
    for info, status, ms in rows:
        table.add_row(
            info.name,
            str(info.port),
            f"[{colours.get(status, 'white')}]{status}[/]",
            "" if ms is None else f"{ms:.1f}",
            " ".join(info.prefixes + info.websocket_prefixes),
        )
    return table


async def _statuses(services: Sequence[ServiceInfo]) -> list[tuple[ServiceInfo, str, float | None]]:
    import httpx

    async with httpx.AsyncClient() as client:
        results = await asyncio.gather(*(_probe(client, info) for info in services))
    return [(info, status, ms) for info, (status, ms) in zip(services, results, strict=True)]


@app.command()
def up(
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only these services.")
    ] = None,
    host: str = "127.0.0.1",
) -> None:
    """Run every service in this one process on its own port (embedded defaults)."""
    selected = [service_info(name) for name in only] if only else list(SERVICES)
    interactive = console.is_terminal
    if interactive:
        os.environ.setdefault("V100_LOG_FILE", "var/log/v100.log")
    asyncio.run(_run_all(selected, host, interactive))


async def _run_all(selected: Sequence[ServiceInfo], host: str, interactive: bool) -> None:
    started = time.perf_counter()
    servers = [_server(info.name, host, info.port) for info in selected]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    title = "V100 — gateway at http://127.0.0.1:4000"
    announced = False
    with Live(console=console, auto_refresh=False, transient=False) if interactive else (
        contextlib.nullcontext()
    ) as live:
        while not stop.is_set():
            rows = await _statuses(selected)
            all_ready = all(status == "ready" for _, status, _ in rows)
            if live is not None:
                live.update(_status_table(rows, title), refresh=True)
            if all_ready and not announced:
                announced = True
                elapsed = time.perf_counter() - started
                if live is None:
                    console.print(_status_table(rows, title))
                console.print(f"all {len(rows)} services ready in {elapsed:.2f} s")
            if any(task.done() for task in tasks):
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    for server in servers:
        server.should_exit = True
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        console.print(f"[red]{len(failures)} service(s) failed: {failures[0]!r}[/]")
        raise typer.Exit(1)


@app.command()
def serve(
    service: str,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: the service's own).")] = None,
) -> None:
    """Run one service in this process."""
    info = service_info(service)
    server = uvicorn.Server(
        uvicorn.Config(
            _load_app(service),
            host=host,
            port=port or info.port,
            log_config=None,
            access_log=False,
            server_header=False,
            ws="websockets-sansio",
        )
    )
    server.run()


@app.command()
def migrate(
    services: Annotated[list[str] | None, typer.Argument(help="Services (default: all).")] = None,
) -> None:
    """Bring every service's database to its latest migration."""
    from v100.kit.db import migrate as run_migration

    names = services or [info.name for info in SERVICES]

    async def run() -> None:
        for name in names:
            module = importlib.import_module(f"v100.services.{name}.app")
            settings = module.Settings()
            spec = module.DATABASE
            await run_migration(
                name, settings.resolved_database_url, spec.migrations_dir, spec.metadata
            )
            console.print(f"[green]migrated[/] {name}")

    asyncio.run(run())


@app.command()
def status() -> None:
    """Show the readiness of every service, as a table."""
    rows = asyncio.run(_statuses(list(SERVICES)))
    console.print(_status_table(rows, "V100 services"))
    if not all(status == "ready" for _, status, _ in rows):
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
    sys.exit(0)
