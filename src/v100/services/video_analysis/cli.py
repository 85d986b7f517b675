"""``v100 clips make``'s half that speaks to video_analysis: a stored video's highlights found
(an analysis with the highlights and speakers stages), the best rendered as clips, each
followed until ready and downloaded, with rich progress bars. A client of the public API only,
through the gateway with an API key (``V100_API_KEY``, ``V100_URL``); the top-level command
uploads a file first (``v100 video``'s upload)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

__all__ = ["make_clips", "parse_durations"]

_SETTLED = ("completed", "failed", "ready", "errored")


def parse_durations(text: str) -> tuple[float, float]:
    """``30-60`` -> (30.0, 60.0); ``45`` -> (45.0, 45.0)."""
    low, _, high = text.partition("-")
    shortest, longest = float(low), float(high or low)
    if not 0 < shortest <= longest:
        raise ValueError(f"durations are SHORTEST-LONGEST seconds, not {text!r}")
    return shortest, longest


def _call(http: httpx.Client, method: str, path: str, poll: float, **kwargs: Any) -> Any:
    """One request, waiting out a rate limit or a busy service; the JSON answered."""
    while True:
        answer = http.request(method, path, **kwargs)
        if answer.status_code not in (429, 503):
            break
        time.sleep(float(answer.headers.get("Retry-After") or poll))
    if answer.is_error:
        raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
    return answer.json()


def _until(
    http: httpx.Client, path: str, poll: float, deadline: float, seen: Callable[[Any], None]
) -> dict[str, Any]:
    while time.monotonic() < deadline:
        body = _call(http, "GET", path, poll)
        seen(body)
        if body["status"] in (*_SETTLED, "failed"):
            return dict(body)
        time.sleep(poll)
    raise TimeoutError(f"{path} did not settle in time")


def make_clips(
    base: str,
    key: str,
    video_id: str,
    out: Path,
    *,
    count: int,
    durations: tuple[float, float],
    aspect: str,
    platform: str,
    captions: bool,
    console: Console,
    poll: float = 1.0,
    within: float = 3600.0,
) -> list[Path]:
    """Analyse ``video_id``, render its best ``count`` highlights, download them into ``out``;
    the files written. Raises ``RuntimeError`` when the analysis fails or no highlight fits."""
    deadline = time.monotonic() + within
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
    with (
        httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60.0) as http,
        Progress(*columns, console=console) as progress,
    ):
        body = {
            "video_id": video_id, "stages": ["highlights", "speakers"],
            "highlights": {"durations": list(durations), "count": count},
        }  # fmt: skip
        created = _call(http, "POST", "/v1/analyses", poll, json=body,
                        headers={"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
        task = progress.add_task("analysing", total=100)

        def analysing(row: Any) -> None:
            progress.update(
                task,
                completed=row["percent"],
                description=f"analysing ({row['stage'] or row['status']})",
            )

        path = f"/v1/analyses/{created['id']}"
        analysis = _until(http, path, poll, deadline, analysing)
        if analysis["status"] != "completed":
            raise RuntimeError(f"the analysis failed: {analysis['error']}")
        progress.update(task, completed=100, description="analysed")
        found = _call(http, "GET", f"{path}/highlights", poll)["items"]
        if not found:
            raise RuntimeError(f"no highlight of {durations[0]:g}-{durations[1]:g} s was found")
        asked = {"count": count, "aspect": aspect, "platform": platform, "captions": captions}
        clips = _call(http, "POST", f"{path}/clips", poll, json=asked,
                      headers={"Idempotency-Key": uuid.uuid4().hex})["items"]  # fmt: skip
        rendering = progress.add_task("rendering clips", total=len(clips))
        written = []
        out.mkdir(parents=True, exist_ok=True)
        for rank, clip in enumerate(clips, start=1):
            # The clips are video_processing's (ADR 0060): followed at their own URL.
            done = _until(http, f"/v1/clips/{clip['id']}", poll, deadline, lambda _: None)
            if done["status"] != "ready":
                console.print(f"[red]clip {rank} failed: {done['error']}[/]")
            else:
                target = out / f"clip-{rank:02d}.mp4"
                link = urljoin(f"{base}/", done["download_url"])  # local disk's are relative
                with httpx.stream("GET", link, timeout=300.0) as got, target.open("wb") as f:
                    got.raise_for_status()
                    for chunk in got.iter_bytes():
                        f.write(chunk)
                written.append(target)
            progress.advance(rendering)
    return written
