"""Clips of the talking-heads video's highlights, both backends, handed to video_processing
(ADR 0060) and rendered by its real clip job, probed with ffprobe: 9:16 at the platform's
frame, H.264/AAC, as long as the range rendered; its signed link serves the MP4; one started
minute charged per clip, once, by video_processing's hold; ``clip.ready`` published durably
naming the analysis; the highlight is the video's; a retry with the same key makes nothing
more; captions asked without a transcript burn none and say so. A highlight the analysis has
not is 404, clips before the highlights are there 409, and another tenant sees nothing."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services.video_processing.support import fetch
from v100 import media
from v100.contracts.events import CLIP_READY, VIDEO_STREAM
from v100.kit.testing.bus import published

from .support import Stack, Talk, new_tenant

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


async def _post(stack: Stack, tenant: str, path: str, body: dict[str, Any]) -> httpx.Response:
    headers = stack.va.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex})
    return await stack.va.http.post(path, json=body, headers=headers)


async def _clip_ready(stack: Stack, tenant: str, path: str) -> dict[str, Any]:
    for _ in range(600):
        answer = await stack.va.get(tenant, path)
        assert answer.status_code == 200, answer.text
        clip = dict(answer.json())
        if clip["status"] in ("ready", "errored"):
            return clip
        await asyncio.sleep(0.2)
    raise TimeoutError(path)


async def test_highlights_are_rendered_as_clips(stack: Stack, talk: Talk, tmp_path: Path) -> None:
    va, tenant = stack.va, new_tenant()
    stack.vp.settings.clip_preset = "ultrafast"
    video = await stack.ready_video(tenant, talk.path)
    body = {
        "video_id": video["id"], "stages": ["highlights", "speakers"],
        "highlights": {"durations": [2.0, 30.0], "count": 2},
    }  # fmt: skip
    created = await va.create(tenant, body)
    done = await va.wait(tenant, created.json()["id"])
    assert done["status"] == "completed", done
    base = f"/v1/analyses/{done['id']}"
    best = (await va.get(tenant, f"{base}/highlights")).json()["items"][0]
    available, _ = await va.balance(tenant)

    asked = {"highlight_ids": [best["id"]], "aspect": "9:16", "platform": "tiktok"}
    key = uuid.uuid4().hex
    headers = va.headers(tenant, **{"Idempotency-Key": key})
    answer = await va.http.post(f"{base}/clips", json=asked, headers=headers)
    assert answer.status_code == 202, answer.text
    (queued,) = answer.json()["items"]
    assert queued["status"] == "processing"
    assert (queued["mode"], queued["analysis_id"]) == ("smart", done["id"])
    assert (queued["start"], queued["end"]) == (best["start"], best["end"])
    again = await va.http.post(f"{base}/clips", json=asked, headers=headers)
    assert [c["id"] for c in again.json()["items"]] == [queued["id"]]
    clip = await _clip_ready(stack, tenant, f"{base}/clips/{queued['id']}")
    assert clip["status"] == "ready", clip
    assert (clip["width"], clip["height"]) == (1080, 1920)
    assert clip["caption_cues"] == 0  # no transcript: transcription is away
    assert clip["credits_charged"] == 1
    assert await va.balance(tenant) == (available - 1, 0)
    # The one clip resource: video_processing's, with its highlight made from the analysis's.
    own = await stack.vp.wait_clip(tenant, clip["id"])
    assert {k: own[k] for k in ("status", "size", "rendered_start", "aspect")} == {
        k: clip[k] for k in ("status", "size", "rendered_start", "aspect")
    }
    highlights = await stack.vp.http.get(
        f"/v1/videos/{video['id']}/highlights", headers=stack.vp.headers(tenant)
    )
    (highlight,) = highlights.json()["items"]
    assert (highlight["id"], highlight["source"]) == (clip["highlight_id"], "analysis")
    bus = stack.vp.app.state.runtime.bus
    ready = await published(bus, VIDEO_STREAM, lambda e: e.data.get("id") == clip["id"])
    assert [e.type for e in ready] == [CLIP_READY]
    assert ready[0].data["analysis_id"] == done["id"]
    assert ready[0].tenant_id == tenant

    got = await fetch(stack.vp.http, clip["download_url"])
    assert got.status_code == 200
    (tmp_path / "clip.mp4").write_bytes(got.content)
    assert len(got.content) == clip["size"]
    info = await media.probe(tmp_path / "clip.mp4")
    assert info.video is not None
    assert info.audio is not None
    assert (info.video.codec, info.audio.codec) == ("h264", "aac")
    assert info.video.display_width * 16 == info.video.display_height * 9
    rendered = clip["rendered_end"] - clip["rendered_start"]
    assert abs(info.duration - rendered) < 0.2, (info.duration, rendered)
    assert best["start"] - 0.01 <= clip["rendered_start"] < clip["rendered_end"]
    assert clip["rendered_end"] <= best["end"] + 0.01

    listed = await va.get(tenant, f"{base}/clips")
    assert [c["id"] for c in listed.json()["items"]] == [clip["id"]]
    assert listed.json()["items"][0]["download_url"]
    assert listed.headers["Deprecation"] == "true"
    assert f"</v1/clips/{clip['id']}>" in listed.headers["Link"]
    other = new_tenant()
    assert (await va.get(other, f"{base}/clips/{clip['id']}")).status_code == 404
    assert (await va.get(other, f"{base}/clips")).status_code == 404

    missing = {"highlight_ids": ["no-such-highlight"]}
    refused = await _post(stack, tenant, f"{base}/clips", missing)
    assert refused.status_code == 404, refused.text
    assert refused.json()["type"].endswith("/highlight-not-found")


async def test_clips_need_the_highlights(stack: Stack, talk: Talk) -> None:
    va, tenant = stack.va, new_tenant()
    video = await stack.ready_video(tenant, talk.path)
    created = await va.create(tenant, {"video_id": video["id"], "stages": ["scenes"]})
    done = await va.wait(tenant, created.json()["id"])
    base = f"/v1/analyses/{done['id']}"
    answer = await _post(stack, tenant, f"{base}/clips", {"count": 1})
    assert answer.status_code == 409, answer.text
    both = {"count": 1, "highlight_ids": ["x"]}
    assert (await _post(stack, tenant, f"{base}/clips", both)).status_code == 422
