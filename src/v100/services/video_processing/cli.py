"""``v100 video ...``: upload a file through the gateway with tus (tuspy), resuming after a broken
connection, with a progress bar for the upload and then for processing until the video is
ready or errored. A client of the public API only: an API key (``V100_API_KEY``) and the
gateway's URL (``V100_URL``)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

__all__ = ["credentials", "follow", "upload_file", "video_app"]

video_app = typer.Typer(help="Upload and follow videos (video_processing).", no_args_is_help=True)
console = Console()

DEFAULT_URL = "http://127.0.0.1:4000"
_SETTLED = ("ready", "errored")


def credentials(url: str | None, api_key: str | None) -> tuple[str, str]:
    base = (url or os.environ.get("V100_URL") or DEFAULT_URL).rstrip("/")
    key = api_key or os.environ.get("V100_API_KEY")
    if not key:
        console.print("[red]Set V100_API_KEY (an API key, v100_sk_...) or pass --api-key.[/]")
        raise typer.Exit(2)
    return base, key


def upload_file(
    base: str, key: str, path: Path, metadata: dict[str, str], chunk_size: int, retries: int
) -> str:
    """tus upload with tuspy; a failed chunk resumes from the server's offset. The upload id."""
    from tusclient import client as tus_client
    from tusclient.exceptions import TusCommunicationError

    tus = tus_client.TusClient(f"{base}/v1/uploads", headers={"X-API-Key": key})
    uploader = tus.uploader(str(path), chunk_size=chunk_size, metadata=metadata)
    size = path.stat().st_size
    columns = (
        TextColumn("upload"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("upload", total=size)
        failures = 0
        while uploader.offset < size:
            try:
                uploader.upload_chunk()  # type: ignore[no-untyped-call]
                failures = 0
            except (TusCommunicationError, OSError, Exception) as exc:
                failures += 1
                if failures > retries:
                    raise
                console.print(f"[yellow]upload interrupted ({exc}); resuming[/]")
                time.sleep(min(2**failures, 30))
                uploader.offset = uploader.get_offset()
            progress.update(task, completed=uploader.offset)
    url = str(uploader.url)
    return url.rstrip("/").rsplit("/", 1)[1]


def follow(base: str, key: str, upload_id: str, poll: float, within: float) -> dict[str, Any]:
    """Poll the video of ``upload_id`` until it settles, with a processing progress bar."""
    headers = {"X-API-Key": key}
    deadline = time.monotonic() + within
    with (
        httpx.Client(base_url=base, headers=headers, timeout=30.0) as http,
        Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), console=console
        ) as progress,
    ):
        task = progress.add_task("processing", total=100)
        video: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            if video is None:
                answer = http.get("/v1/videos", params={"upload_id": upload_id})
            else:
                answer = http.get(f"/v1/videos/{video['id']}")
            if answer.status_code in (429, 503):  # rate limited or busy: wait as told
                time.sleep(float(answer.headers.get("Retry-After") or poll))
                continue
            answer.raise_for_status()
            body = answer.json()
            listed = "items" in body  # the lookup by upload id answers a page
            video = (body["items"] or [None])[0] if listed else body
            if video is not None:
                progress.update(task, completed=video["progress"], description=video["status"])
                if video["status"] in _SETTLED:
                    return video
            time.sleep(poll)
    raise TimeoutError(f"the video did not settle within {within:.0f} s")


@video_app.command("upload")
def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    project: Annotated[str | None, typer.Option(help="Project id to put the video in.")] = None,
    title: Annotated[str | None, typer.Option(help="Title (default: the file's name).")] = None,
    wait: Annotated[bool, typer.Option(help="Follow processing until ready or errored.")] = False,
    chunk_mb: Annotated[int, typer.Option(min=1, help="MiB sent per tus PATCH.")] = 16,
    retries: Annotated[int, typer.Option(min=0, help="Resumes after failures in a row.")] = 5,
    url: Annotated[str | None, typer.Option(help="Gateway URL (V100_URL).")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key (V100_API_KEY).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for processing.")] = 3600.0,
) -> None:
    """Upload FILE with tus through the gateway; with --wait, follow processing."""
    base, key = credentials(url, api_key)
    metadata = {"filename": file.name, "title": title or file.name}
    if project:
        metadata["project_id"] = project
    upload_id = upload_file(base, key, file, metadata, chunk_mb * 1024 * 1024, retries)
    console.print(f"uploaded: upload {upload_id}")
    if not wait:
        return
    video = follow(base, key, upload_id, poll=2.0, within=timeout)
    if video["status"] == "errored":
        error = video.get("error") or {}
        reason = f"{error.get('type')}: {error.get('detail')}"
        console.print(f"[red]video {video['id']} errored: {reason}[/]")
        raise typer.Exit(1)
    playback = video.get("playback") or {}
    console.print(f"[green]video {video['id']} ready[/] ({video.get('duration')} s)")
    for name in ("hls", "mp4", "poster"):
        if playback.get(name):
            console.print(f"  {name}: {playback[name]}")
