"""Helpers for video_analysis's tests: the analysis app beside a real video_processing on
loopback (``Stack``: a ready video uploaded there, an analysis started here and waited for),
tenant headers, the durable events published about an analysis, the tenant's balance at the
real billing app, and the talking-heads video the stages are measured on."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from tests.services.video_processing.support import VideoApp
from tests.support.billed import balance, tenant_principal
from tests.support.billed import new_tenant as new_tenant
from v100.ai.testing import make_speech
from v100.contracts.events import ANALYSES_STREAM
from v100.kit.bus import Event
from v100.kit.testing.bus import published
from v100.kit.testing.http import auth_headers
from v100.media.testing import _ffmpeg
from v100.media.testing_speakers import TalkingVideo, make_talking_video
from v100.services.video_analysis.settings import VideoAnalysisSettings

INTERNAL_SECRET = "internal-secret-for-video-analysis-tests-0123456"
SETTLED = ("completed", "failed")
# The test card shown before the talking heads: one cut at this time.
INTRO_SECONDS = 2.0
FIRST_LINE = "The quick brown fox jumps over the lazy dog. We meet every morning."
SECOND_LINE = "Planning the work of the day takes only a few minutes."


@dataclass(frozen=True)
class Talk:
    """The test video: an intro, a cut, two heads taking turns (times from the video's start)."""

    path: Path
    turns: list[tuple[float, float, int]]
    boxes: list[tuple[int, int, int, int]]
    duration: float


def make_talk(scratch: Path) -> Talk:
    """A 2 s test card with silence, cut to two heads: the left says a line, the right another,
    the left the first again (espeak-ng voices, pitch apart), 640x360 25 fps with AAC sound."""
    first = make_speech(scratch / "first.wav", FIRST_LINE)
    second = make_speech(scratch / "second.wav", SECOND_LINE, pitch=80)
    heads: TalkingVideo = make_talking_video(
        scratch / "heads.mp4", [(first, 0), (second, 1), (first, 0)]
    )
    path = scratch / "talk.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={INTRO_SECONDS}",
        "-f", "lavfi", "-i", f"anullsrc=r=44100:cl=mono:d={INTRO_SECONDS}",
        "-i", str(heads.path),
        "-filter_complex", "[0:v][1:a][2:v][2:a]concat=n=2:v=1:a=1[v][a]",
        "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", "-c:a", "aac", str(path),
    )  # fmt: skip
    turns = [(s + INTRO_SECONDS, e + INTRO_SECONDS, head) for s, e, head in heads.turns]
    return Talk(path, turns, heads.boxes, heads.duration + INTRO_SECONDS)


@dataclass
class AnalysisApp:
    app: FastAPI
    http: httpx.AsyncClient
    settings: VideoAnalysisSettings
    billing: str

    def headers(self, tenant_id: str, **extra: str) -> dict[str, str]:
        return {**auth_headers(self.app, tenant_principal(tenant_id)), **extra}

    async def create(
        self, tenant_id: str, body: dict[str, Any], key: str | None = None
    ) -> httpx.Response:
        return await self.http.post(
            "/v1/analyses",
            json=body,
            headers=self.headers(tenant_id, **{"Idempotency-Key": key or uuid.uuid4().hex}),
        )

    async def get(self, tenant_id: str, path: str) -> httpx.Response:
        return await self.http.get(path, headers=self.headers(tenant_id))

    async def wait(self, tenant_id: str, analysis_id: str, within: float = 300.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            answer = await self.get(tenant_id, f"/v1/analyses/{analysis_id}")
            assert answer.status_code == 200, answer.text
            analysis = dict(answer.json())
            if analysis["status"] in SETTLED:
                return analysis
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"analysis still {analysis['status']}")
            await asyncio.sleep(0.2)

    async def download(self, url: str) -> httpx.Response:
        """GET a presigned link as a browser would: no token (this service's own local-disk
        links through its client; S3's over loopback)."""
        if urlsplit(url).netloc in ("", urlsplit(str(self.http.base_url)).netloc):
            return await self.http.get(url)
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            return await client.get(url)

    async def events(self, analysis_id: str) -> list[Event]:
        """Durable events published so far about one analysis."""
        bus = self.app.state.runtime.bus
        return await published(
            bus, ANALYSES_STREAM, lambda event: event.data.get("id") == analysis_id
        )

    async def balance(self, tenant_id: str) -> tuple[int, int]:
        return await balance(self.billing, self.app.state.runtime.tokens, tenant_id)


@dataclass
class Stack:
    va: AnalysisApp
    vp: VideoApp

    async def ready_video(self, tenant: str, source: Path) -> dict[str, Any]:
        upload_id = await self.vp.tus_upload(tenant, source)
        video = await self.vp.wait(tenant, (await self.vp.video_of_upload(tenant, upload_id))["id"])
        assert video["status"] == "ready", video
        return video
