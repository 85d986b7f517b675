"""The platform specs as JSON: every platform, one platform, and an unknown one."""

from __future__ import annotations

import pytest

from v100.media import PLATFORM_SPECS

from .support import MediaApp, new_tenant

# One app per backend for the module (conftest.py): its tests run on the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_lists_every_platform_spec(mp: MediaApp) -> None:
    answer = await mp.http.get("/v1/media/specs", headers=mp.headers(new_tenant()))
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [item["name"] for item in items] == [
        "youtube",
        "tiktok",
        "instagram_reels",
        "linkedin",
        "x",
    ]
    for item in items:
        spec = PLATFORM_SPECS[item["name"]]
        assert (item["width"], item["height"]) == (spec.width, spec.height)
        assert item["max_duration"] == spec.max_duration
        assert item["containers"] == list(spec.containers)


async def test_one_platform_spec_and_an_unknown_one(mp: MediaApp) -> None:
    headers = mp.headers(new_tenant())
    tiktok = await mp.http.get("/v1/media/specs/tiktok", headers=headers)
    assert tiktok.status_code == 200
    body = tiktok.json()
    assert (body["width"], body["height"], body["aspect"]) == (1080, 1920, 0.5625)
    assert body["video_codecs"] == ["h264", "hevc", "vp8", "vp9"]
    assert body["max_duration"] == 600
    unknown = await mp.http.get("/v1/media/specs/myspace", headers=headers)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert unknown.json()["type"] == "/problems/platform-not-found"
