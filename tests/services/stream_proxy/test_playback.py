"""A processed video played through stream_proxy on both backends, with a real video_processing
beside it: the signed URL, the media types, the cache headers of playlists and segments, ETag
and 304, byte ranges (206, If-Range, 416), HEAD, CORS with its preflight; and every refusal:
another tenant's video, one not playable, a forged, expired or misused token, a path out of the
ladder, a deleted video (its URL stops at once)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.support.billed import new_tenant
from v100.services.stream_proxy.tokens import PlaybackSigner

from .support import INTERNAL_SECRET, Stack, path_of

# One stream_proxy and video_processing per backend for the module (``shared_stack``), on the
# module's loop; each test works for tenants of its own.
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture
def stack(shared_stack: Stack) -> Stack:
    return shared_stack


MPEGURL = "application/vnd.apple.mpegurl"


def _uris(playlist: str) -> list[str]:
    uris = [line for line in playlist.splitlines() if line and not line.startswith("#")]
    uris += [
        line.split('URI="', 1)[1].split('"', 1)[0]
        for line in playlist.splitlines()
        if 'URI="' in line
    ]
    return uris


async def test_a_processed_video_plays_with_caching_ranges_and_cors(
    stack: Stack, small_video: Path
) -> None:
    sp, tenant = stack.sp, new_tenant()
    video = await stack.ready_video(tenant, small_video)
    minted = await sp.playback(tenant, video["id"], ttl_seconds=600)
    assert minted.status_code == 200, minted.text
    url = minted.json()["url"]
    assert url.startswith("http://service/hls/")
    assert url.endswith("/master.m3u8")
    expires = minted.json()["expires_at"]
    assert expires > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 590))
    base = path_of(url).rsplit("/", 1)[0]
    origin = {"Origin": "https://player.example"}

    master = await sp.http.get(path_of(url), headers=origin)
    assert master.status_code == 200, master.text
    assert master.headers["content-type"].startswith(MPEGURL)
    assert master.headers["cache-control"] == "public, max-age=60"
    assert master.headers["access-control-allow-origin"] == "*"
    assert "Content-Range" in master.headers["access-control-expose-headers"]
    assert master.headers["accept-ranges"] == "bytes"
    etag = master.headers["etag"]
    assert master.text.startswith("#EXTM3U")
    variants = [u for u in _uris(master.text) if u.endswith(".m3u8")]
    assert len(variants) >= 2, master.text  # two rungs (and the audio rendition)

    again = await sp.http.get(path_of(url), headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert (
        await sp.http.get(path_of(url), headers={"If-None-Match": '"other"'})
    ).status_code == 200

    seen_types: set[str] = set()
    for variant in variants:
        playlist = await sp.http.get(f"{base}/{variant}")
        assert playlist.status_code == 200, variant
        assert playlist.headers["content-type"].startswith(MPEGURL)
        folder = variant.rsplit("/", 1)[0]
        for name in _uris(playlist.text):
            answer = await sp.http.get(f"{base}/{folder}/{name}")
            assert answer.status_code == 200, name
            assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert int(answer.headers["content-length"]) == len(answer.content) > 0
            kind = answer.headers["content-type"]
            seen_types.add(kind)
            assert kind == ("audio/mp4" if folder == "audio" else "video/mp4"), (folder, name)
    assert "video/mp4" in seen_types

    # One segment, byte by byte: ranges, If-Range, HEAD, past the end.
    folder = variants[0].rsplit("/", 1)[0]
    names = _uris((await sp.http.get(f"{base}/{variants[0]}")).text)
    segment = f"{base}/{folder}/{next(n for n in names if n.endswith('.m4s'))}"
    whole = await sp.http.get(segment)
    size = len(whole.content)
    part = await sp.http.get(segment, headers={"Range": "bytes=10-109"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 10-109/{size}"
    assert part.content == whole.content[10:110]
    tail = await sp.http.get(segment, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206
    assert tail.content == whole.content[-50:]
    stale = await sp.http.get(segment, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200
    assert stale.content == whole.content
    fresh = await sp.http.get(
        segment, headers={"Range": "bytes=0-9", "If-Range": whole.headers["etag"]}
    )
    assert fresh.status_code == 206
    assert fresh.content == whole.content[:10]
    beyond = await sp.http.get(segment, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"
    assert beyond.headers["cache-control"] == "no-store"
    head = await sp.http.head(segment)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(size)
    assert head.headers["etag"] == whole.headers["etag"]

    # A browser's preflight (hls.js asks with Range) needs no token check.
    preflight = await sp.http.options(
        segment,
        headers={**origin, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "range"},
    )  # fmt: skip
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "Range" in preflight.headers["access-control-allow-headers"]
    assert "GET" in preflight.headers["access-control-allow-methods"]


async def test_refusals_are_problems_that_are_never_cached(stack: Stack, small_video: Path) -> None:
    sp, vp, tenant, other = stack.sp, stack.vp, new_tenant(), new_tenant()
    video = await stack.ready_video(tenant, small_video)

    # Another tenant's video, an unknown one, one not ready: refused before any URL exists.
    for who, video_id, status, slug in (
        (other, video["id"], 404, "video-not-found"),
        (tenant, str(uuid.uuid4()), 404, "video-not-found"),
    ):
        answer = await sp.playback(who, video_id)
        assert answer.status_code == status, answer.text
        assert answer.json()["type"] == f"/problems/{slug}"
    importing = await vp.http.post(
        "/v1/videos", json={"input_url": "https://media.invalid/a.mp4"}, headers=vp.headers(tenant)
    )
    answer = await sp.playback(tenant, importing.json()["id"])
    assert answer.status_code == 409
    assert answer.json()["type"] == "/problems/video-not-playable"
    for body in (
        {"video_id": ""},
        {"video_id": "x", "extra": 1},
        {"video_id": "x", "ttl_seconds": 1},
    ):
        assert (await sp.http.post("/v1/streams/playback", json=body,
                                   headers=sp.headers(tenant))).status_code == 422  # fmt: skip
    reader = await sp.http.post(
        "/v1/streams/playback", json={"video_id": video["id"]},
        headers={"Authorization": "Bearer nonsense"},
    )  # fmt: skip
    assert reader.status_code == 401

    url = path_of((await sp.playback(tenant, video["id"])).json()["url"])
    token = url.split("/")[2]
    signer = PlaybackSigner(INTERNAL_SECRET)
    expired = signer.video(tenant, video["id"], int(time.time()) - 5)
    forged = PlaybackSigner("another-installation-secret-0123456789").video(
        tenant, video["id"], int(time.time()) + 600
    )
    route_token = signer.route(tenant, video["id"], int(time.time()) + 600)
    for bad in (expired, forged, route_token, token[:-2] + "xx", "not-a-token"):
        answer = await sp.http.get(f"/hls/{bad}/master.m3u8", headers={"Origin": "https://a.b"})
        assert answer.status_code == 403, bad
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["type"] == "/problems/invalid-playback-token"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["access-control-allow-origin"] == "*"
    assert "expired" in (await sp.http.get(f"/hls/{expired}/master.m3u8")).json()["detail"]

    # Out of the ladder: a path that climbs, an empty segment, a file that is not there.
    for path in ("%2e%2e/video.mp4", "a/%2e%2e/%2e%2e/source", "x//y.m3u8", "nope.m3u8", ""):
        answer = await sp.http.get(f"/hls/{token}/{path}")
        assert answer.status_code == 404, path
        assert answer.headers["cache-control"] == "no-store"

    # Deleted: the same URL stops at once (video_check_seconds=0 here).
    assert (await sp.http.get(url)).status_code == 200
    deleted = await vp.http.delete(f"/v1/videos/{video['id']}", headers=vp.headers(tenant))
    assert deleted.status_code == 204
    gone = await sp.http.get(url)
    assert gone.status_code == 404
    assert gone.json()["type"] == "/problems/playback-not-found"
