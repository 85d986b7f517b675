"""The ``v100`` command: run the platform (all services in one process, or one service or worker
per process), migrate databases, check health, create tenants and API keys, upload videos and
make clips of their highlights."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
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
    """The service's app; a setting it cannot start without ends the command with its reason."""
    from v100.kit.settings import MissingSecret

    module = importlib.import_module(f"v100.services.{name}.app")
    try:
        return module.create_app()
    except MissingSecret as exc:
        Console(stderr=True).print(f"{name}: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to us: we run many in one loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(name: str, host: str, port: int) -> _QuietServer:
    from v100.kit.http import server_config

    config = server_config(
        _load_app(name), host=host, port=port, lifespan="on", proxy_headers=False
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


async def _serve(server: _QuietServer) -> None:
    try:
        await server.serve()
    except SystemExit:  # uvicorn exits when the app's start-up fails
        app = server.config.app
        title = getattr(app, "title", "a service")
        reason = getattr(getattr(app, "state", None), "startup_error", None)
        raise RuntimeError(f"{title} did not start: {reason or 'see the log'}") from None


async def _run_all(selected: Sequence[ServiceInfo], host: str, interactive: bool) -> None:
    started = time.perf_counter()
    servers = [_server(info.name, host, info.port) for info in selected]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tasks = [asyncio.create_task(_serve(server)) for server in servers]
    title = "V100 — gateway at http://127.0.0.1:4000"
    announced = False
    with (
        Live(console=console, auto_refresh=False, transient=False)
        if interactive
        else (contextlib.nullcontext()) as live
    ):
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
        for failure in failures:
            console.print(str(failure), style="red", markup=False)
        raise typer.Exit(1)


@app.command()
def serve(
    service: str,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: the service's own).")] = None,
) -> None:
    """Run one service in this process."""
    from v100.kit.http import server_config

    info = service_info(service)
    uvicorn.Server(server_config(_load_app(service), host=host, port=port or info.port)).run()


@app.command()
def worker(
    service: str,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once.")] = 16,
) -> None:
    """Run one service's background jobs from Redis (the distributed mode)."""
    from v100.kit.jobs import JobRegistry

    try:
        service_info(service)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/]")
        raise typer.Exit(2) from None
    module_name = f"v100.services.{service}.tasks"
    try:
        tasks = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name not in (module_name, f"v100.services.{service}"):
            raise  # the tasks module exists but something it imports does not
        console.print(f"{service} has no background jobs (no module {module_name}).")
        raise typer.Exit(2) from None
    registries = [value for value in vars(tasks).values() if isinstance(value, JobRegistry)]
    if len(registries) != 1:
        console.print(f"[red]{module_name} must define one JobRegistry, found {len(registries)}[/]")
        raise typer.Exit(2)
    app_module = importlib.import_module(f"v100.services.{service}.app")
    settings = app_module.Settings()
    redis_url = settings.platform.redis_url
    if redis_url is None:
        console.print(
            "v100 worker needs V100_REDIS_URL (the job stream); without it, jobs run inside "
            "`v100 up` / `v100 serve`."
        )
        raise typer.Exit(2)
    from v100.media import FFmpegUnusable

    try:
        asyncio.run(
            _work(service, registries[0], settings, app_module.DATABASE, redis_url, concurrency)
        )
    except FFmpegUnusable as exc:  # a requirement of the service's jobs (JobRegistry.requires)
        console.print(f"v100 worker {service} did not start: {exc}", style="red", markup=False)
        raise typer.Exit(1) from None


async def _work(
    service: str, registry: Any, settings: Any, database: Any, redis_url: str, concurrency: int
) -> None:
    from v100.kit import db as kit_db
    from v100.kit.jobs import run_worker
    from v100.kit.observability import configure_logging

    platform = settings.platform
    configure_logging(platform.log_level, json=platform.log_json, file=platform.log_file)
    # Idempotent and locked per service: a worker may start before any API replica.
    await kit_db.migrate(
        service, settings.resolved_database_url, database.migrations_dir, database.metadata
    )
    engine = kit_db.create_engine(
        settings.resolved_database_url, application_name=f"v100.{service}.worker"
    )
    try:
        await run_worker(
            registry, kit_db.create_sessionmaker(engine), redis_url, concurrency=concurrency
        )
    finally:
        await engine.dispose()


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


# --- tenants and API keys: the gateway's service layer, straight against its database --------

tenant_app = typer.Typer(help="Tenants, in the gateway's database.", no_args_is_help=True)
api_key_app = typer.Typer(help="API keys, in the gateway's database.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(api_key_app, name="api-key")
operator_app = typer.Typer(
    help="The platform operator's credentials, made on the host only.", no_args_is_help=True
)
operator_key_app = typer.Typer(help="The operator's keys.", no_args_is_help=True)
operator_app.add_typer(operator_key_app, name="key")
app.add_typer(operator_app, name="operator")

# A client of the public API (tus upload + polling), kept with the service it speaks to.
from v100.services.video_processing.cli import video_app  # noqa: E402

app.add_typer(video_app, name="video")
clips_app = typer.Typer(
    help="Clips of a video's highlights (video_analysis).", no_args_is_help=True
)
app.add_typer(clips_app, name="clips")


@clips_app.command("make")
def clips_make(
    video: Annotated[str, typer.Argument(help="A video file to upload, or a stored video's id.")],
    count: Annotated[int, typer.Option(min=1, max=20, help="Clips to make.")] = 5,
    duration: Annotated[str, typer.Option(help="Clip length, SHORTEST-LONGEST seconds.")] = "30-60",
    aspect: Annotated[str, typer.Option(help="9:16, 1:1 or 4:5.")] = "9:16",
    platform: Annotated[str, typer.Option(help="tiktok, instagram_reels, youtube_shorts.")] = (
        "tiktok"
    ),
    captions: Annotated[bool, typer.Option(help="Burn the transcript's words in.")] = True,
    out: Annotated[Path, typer.Option(help="Directory the clips are written to.")] = Path("."),
    url: Annotated[str | None, typer.Option(help="Gateway URL (V100_URL).")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key (V100_API_KEY).")] = None,
) -> None:
    """Find VIDEO's highlights and render the best as clips (uploading VIDEO first when it is a
    file), with progress bars; the MP4s land in --out."""
    from v100.services.video_analysis.cli import make_clips, parse_durations
    from v100.services.video_processing.cli import credentials, follow, upload_file

    base, key = credentials(url, api_key)
    try:
        durations = parse_durations(duration)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    video_id = video
    if Path(video).is_file():
        source = Path(video)
        upload_id = upload_file(base, key, source, {"filename": source.name}, 16 << 20, 5)
        stored = follow(base, key, upload_id, poll=2.0, within=3600.0)
        if stored["status"] != "ready":
            console.print(f"[red]video {stored['id']} errored: {stored.get('error')}[/]")
            raise typer.Exit(1)
        video_id = stored["id"]
    try:
        written = make_clips(
            base, key, video_id, out, count=count, durations=durations, aspect=aspect,
            platform=platform, captions=captions, console=console,
        )  # fmt: skip
    except (RuntimeError, TimeoutError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    for path in written:
        console.print(f"[green]{path}[/]")


# Notes go to stderr so that stdout carries only what a script wants to capture (the key).
notes = Console(stderr=True)


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="The tenant's name.")],
    email: Annotated[str, typer.Option(help="The owner's email, their login.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="The owner's password (asked for when left out).",
        ),
    ],
) -> None:
    """Create a tenant and its owner (migrating the gateway's database first)."""
    from rich.markup import escape

    from v100.kit.errors import ProblemError
    from v100.services.gateway.identity import admin
    from v100.services.gateway.settings import GatewaySettings

    try:
        tenant, owner = asyncio.run(admin.create_tenant(GatewaySettings(), name, email, password))
    except ProblemError as exc:
        notes.print(f"[red]{escape(str(exc))}[/]", highlight=False)
        raise typer.Exit(1) from None
    console.print(
        f"created tenant {tenant.name} ({tenant.id}) with owner {owner.email} ({owner.id})",
        markup=False,
        highlight=False,
    )


@api_key_app.command("create")
def api_key_create(
    name: Annotated[str, typer.Option(help="A name to tell the key by.")],
    tenant_id: Annotated[
        str | None, typer.Option(help="The tenant; its first owner makes the key.")
    ] = None,
    email: Annotated[str | None, typer.Option(help="The owner or admin who makes the key.")] = None,
    scope: Annotated[
        list[str] | None, typer.Option(help="A scope such as videos:read; repeatable (default *).")
    ] = None,
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, help="Expire the key after this many days.")
    ] = None,
) -> None:
    """Create an API key and print it once: only its hash is kept."""
    from datetime import UTC, datetime, timedelta

    from rich.markup import escape

    from v100.kit.errors import ProblemError
    from v100.services.gateway.identity import admin
    from v100.services.gateway.settings import GatewaySettings

    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    try:
        created = asyncio.run(
            admin.create_api_key(
                GatewaySettings(),
                name=name,
                scopes=scope or ["*"],
                tenant_id=tenant_id,
                email=email,
                expires_at=expires_at,
            )
        )
    except ProblemError as exc:
        notes.print(f"[red]{escape(str(exc))}[/]", highlight=False)
        raise typer.Exit(1) from None
    key, tenant = created.key, created.tenant
    notes.print(
        f"created API key {key.name} ({key.id}) for tenant {tenant.name} ({tenant.id}), "
        f"made by {created.creator.email}, scopes: {' '.join(key.scopes)}",
        markup=False,
        highlight=False,
    )
    notes.print("Store it now: it is not kept and cannot be shown again.", highlight=False)
    typer.echo(created.secret)


@operator_key_app.command("create")
def operator_key_create(
    name: Annotated[str, typer.Option(help="A name to tell the key by.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="An operator scope; repeatable (default: all of them)."),
    ] = None,
) -> None:
    """Create a key of the platform's operator and print it once (ADR 0027)."""
    from rich.markup import escape

    from v100.kit.errors import ProblemError
    from v100.services.gateway.identity import admin
    from v100.services.gateway.identity.service import OPERATOR_SCOPES
    from v100.services.gateway.settings import GatewaySettings

    try:
        key, secret = asyncio.run(
            admin.create_operator_key(
                GatewaySettings(), name=name, scopes=scope or list(OPERATOR_SCOPES)
            )
        )
    except ProblemError as exc:
        notes.print(f"[red]{escape(str(exc))}[/]", highlight=False)
        raise typer.Exit(1) from None
    notes.print(
        f"created operator key {key.name} ({key.id}), scopes: {' '.join(key.scopes)}",
        markup=False,
        highlight=False,
    )
    notes.print("Store it now: it is not kept and cannot be shown again.", highlight=False)
    typer.echo(secret)


@operator_key_app.command("list")
def operator_key_list() -> None:
    """List the operator's keys (never their secrets)."""
    from v100.services.gateway.identity import admin
    from v100.services.gateway.settings import GatewaySettings

    for key in asyncio.run(admin.list_operator_keys(GatewaySettings())):
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live"
        # One plain line per key (no wrapping): scripts read it.
        typer.echo(f"{key.id}  {key.prefix}...  {key.name}  {' '.join(key.scopes)}  {state}")


@operator_key_app.command("revoke")
def operator_key_revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke an operator key; the gateway refuses it within its key cache time (5 s)."""
    from rich.markup import escape

    from v100.kit.errors import ProblemError
    from v100.services.gateway.identity import admin
    from v100.services.gateway.settings import GatewaySettings

    try:
        key = asyncio.run(admin.revoke_operator_key(GatewaySettings(), key_id))
    except ProblemError as exc:
        notes.print(f"[red]{escape(str(exc))}[/]", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"revoked operator key {key.name} ({key.id})", markup=False, highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
    sys.exit(0)
