"""Projects, highlights and clips around a ready video, and the direct-upload flow: a signed,
expiring, single-use tus URL a browser uploads to with no API key."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import av
import pytest

from v100.kit.settings import PlatformSettings
from v100.services.video_processing.settings import VideoProcessingSettings

from .support import VideoApp, fetch, new_tenant

pytestmark = [pytest.mark.time_sensitive, pytest.mark.asyncio(loop_scope="module")]


async def _ready_video(vp: VideoApp, tenant: str, path: Path, **meta: str) -> dict:
    encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
    upload_id = await vp.tus_upload(tenant, path, metadata=encoded)
    video = await vp.wait(tenant, (await vp.video_of_upload(tenant, upload_id))["id"])
    assert video["status"] == "ready", video["error"]
    return video


async def test_projects_highlights_and_clips(
    vp: VideoApp, small_video: Path, tmp_path: Path
) -> None:
    tenant = new_tenant()
    headers = vp.headers(tenant)
    project = await vp.http.post(
        "/v1/projects", json={"name": "Launch"}, headers={**headers, "Idempotency-Key": "p1"}
    )
    assert project.status_code == 201, project.text
    again = await vp.http.post(
        "/v1/projects", json={"name": "Launch"}, headers={**headers, "Idempotency-Key": "p1"}
    )
    assert again.json()["id"] == project.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    project_id = project.json()["id"]

    video = await _ready_video(vp, tenant, small_video, project_id=project_id, title="Demo")
    assert video["project_id"] == project_id
    assert video["title"] == "Demo"
    listed = await vp.http.get("/v1/videos", params={"project_id": project_id}, headers=headers)
    assert [v["id"] for v in listed.json()["items"]] == [video["id"]]

    highlight = await vp.http.post(
        f"/v1/videos/{video['id']}/highlights",
        json={"start": 0.5, "end": 2.0, "title": "the good bit", "score": 80},
        headers=headers,
    )
    assert highlight.status_code == 201, highlight.text
    # A PATCH may leave a time out, not null it (500 before).
    nulled = await vp.http.patch(
        f"/v1/videos/{video['id']}/highlights/{highlight.json()['id']}",
        json={"start": None},
        headers=headers,
    )
    assert nulled.status_code == 422, nulled.text
    outside = await vp.http.post(
        f"/v1/videos/{video['id']}/highlights", json={"start": 1, "end": 30}, headers=headers
    )
    assert outside.status_code == 422
    assert outside.json()["type"] == "/problems/invalid-time-range"

    clips = {}
    for mode in ("accurate", "fast"):
        created = await vp.http.post(
            "/v1/clips",
            json={"video_id": video["id"], "start": 0.5, "end": 2.0, "mode": mode,
                  "highlight_id": highlight.json()["id"]},
            headers=headers,
        )  # fmt: skip
        assert created.status_code == 202, created.text
        clips[mode] = await vp.wait_clip(tenant, created.json()["id"])
    for mode, clip in clips.items():
        assert clip["status"] == "ready", clip["error"]
        answer = await fetch(vp.http, clip["download_url"])
        assert answer.status_code == 200
        path = tmp_path / f"{mode}.mp4"
        path.write_bytes(answer.content)
        with av.open(str(path)) as container:
            seconds = container.duration / 1e6
        # Frame-accurate is 1.5 s; fast starts at the keyframe before, so it may run longer.
        if mode == "accurate":
            assert seconds == pytest.approx(1.5, abs=0.1)
        else:
            assert 1.3 <= seconds <= 2.6

    platform = await vp.http.post(
        "/v1/clips",
        json={"video_id": video["id"], "start": 0, "end": 2, "platform": "tiktok"},
        headers=headers,
    )
    clip = await vp.wait_clip(tenant, platform.json()["id"])
    assert clip["status"] == "ready", clip["error"]
    assert clip["height"] > clip["width"]  # TikTok is vertical

    other = vp.headers(new_tenant())
    assert (await vp.http.get(f"/v1/clips/{clip['id']}", headers=other)).status_code == 404
    assert (await vp.http.get(f"/v1/projects/{project_id}", headers=other)).status_code == 404
    deleted = await vp.http.delete(f"/v1/videos/{video['id']}", headers=headers)
    assert deleted.status_code == 204
    assert (await vp.http.get(f"/v1/videos/{video['id']}", headers=headers)).status_code == 404
    assert (await fetch(vp.http, video["playback"]["hls"])).status_code == 404


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("patch", {"name": None}),  # a 500 before: the column is NOT NULL
        ("patch", {"name": "a\x00b"}),  # NUL was stored verbatim
        ("patch", {"name": "two\nlines"}),
        ("post", {"name": "bell\x07"}),
        ("post", {"name": "ok", "description": "nul \x00 inside"}),
    ],
)
async def test_bad_project_text_is_422_and_changes_nothing(
    vp: VideoApp, method: str, body: dict[str, object]
) -> None:
    tenant = new_tenant()
    headers = vp.headers(tenant)
    created = await vp.http.post(
        "/v1/projects", json={"name": "Launch", "description": "first\n\tsecond"}, headers=headers
    )
    assert created.status_code == 201, created.text
    url = "/v1/projects" if method == "post" else f"/v1/projects/{created.json()['id']}"
    answer = await vp.http.request(method.upper(), url, json=body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    kept = await vp.http.get(f"/v1/projects/{created.json()['id']}", headers=headers)
    assert kept.json()["name"] == "Launch"


async def test_a_trailing_slash_is_404_not_a_redirect_to_an_internal_address(
    vp: VideoApp,
) -> None:
    answer = await vp.http.get("/v1/projects/", headers=vp.headers(new_tenant()))
    assert answer.status_code == 404
    assert "location" not in answer.headers


async def test_clip_of_a_video_not_ready_is_refused(vp: VideoApp) -> None:
    tenant = new_tenant()
    missing = await vp.http.post(
        "/v1/clips", json={"video_id": str(uuid.uuid4()), "start": 0, "end": 1},
        headers=vp.headers(tenant),
    )  # fmt: skip
    assert missing.status_code == 404


async def test_urls_handed_out_come_from_configuration_not_the_request(vp: VideoApp) -> None:
    # Before, a caller's Host, X-Forwarded-Host and X-Forwarded-Prefix ended up in them.
    spoofing = {
        "Host": "evil.test",
        "X-Forwarded-Host": "evil.test",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Prefix": "/evil",
    }
    tenant = new_tenant()
    created = await vp.http.post(
        "/v1/uploads", json={}, headers=vp.headers(tenant, **spoofing, **{"Idempotency-Key": "u"})
    )
    assert created.status_code == 201, created.text
    direct_url = created.json()["url"]
    assert direct_url.startswith("http://service/v1/uploads/direct/"), direct_url
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "10", **spoofing}
    for url in (direct_url.removeprefix("http://service"), "/v1/uploads"):
        headers = tus if url != "/v1/uploads" else vp.headers(tenant, **tus)
        upload = await vp.http.post(url, headers=headers)
        assert upload.status_code == 201, upload.text
        assert upload.headers["Location"].startswith(f"http://service{url}/"), upload.headers


async def test_the_public_url_defaults_to_the_platforms() -> None:
    platform = PlatformSettings(public_url="https://api.example.com/")
    assert VideoProcessingSettings(platform=platform).public_base == "https://api.example.com"
    assert PlatformSettings().public_url == "http://127.0.0.1:4000"


async def test_direct_upload_needs_no_api_key_and_works_once(
    vp: VideoApp, small_video: Path
) -> None:
    tenant = new_tenant()
    created = await vp.http.post(
        "/v1/uploads",
        json={"new_video": {"title": "From the browser", "passthrough": "ref-42"}},
        headers=vp.headers(tenant, **{"Idempotency-Key": "d1"}),
    )
    assert created.status_code == 201, created.text
    direct = created.json()
    assert direct["status"] == "waiting"
    url = urlsplit(direct["url"]).path
    assert url.startswith("/v1/uploads/direct/")
    data = await asyncio.to_thread(small_video.read_bytes)
    tus = {"Tus-Resumable": "1.0.0"}  # and no Authorization header at all

    forged = await vp.http.post(url[:-4] + "AAAA", headers={**tus, "Upload-Length": str(len(data))})
    assert forged.status_code == 403
    upload = await vp.http.post(url, headers={**tus, "Upload-Length": str(len(data))})
    assert upload.status_code == 201, upload.text
    location = urlsplit(upload.headers["Location"]).path
    assert location.startswith(url + "/")
    reused = await vp.http.post(url, headers={**tus, "Upload-Length": "10"})
    assert reused.status_code == 409
    assert reused.json()["type"] == "/problems/direct-upload-unusable"
    half = len(data) // 2
    for offset, part in ((0, data[:half]), (half, data[half:])):
        answer = await vp.http.patch(
            location,
            content=part,
            headers={**tus, "Upload-Offset": str(offset),
                     "Content-Type": "application/offset+octet-stream"},
        )  # fmt: skip
        assert answer.status_code == 204, answer.text
    head = await vp.http.head(location, headers=tus)
    assert head.headers["Upload-Offset"] == str(len(data))

    shown = await vp.http.get(f"/v1/uploads/{direct['id']}", headers=vp.headers(tenant))
    assert shown.json()["status"] == "asset_created"
    assert shown.json()["url"] is None
    video = await vp.wait(tenant, shown.json()["video_id"])
    assert video["status"] == "ready", video["error"]
    assert (video["title"], video["passthrough"]) == ("From the browser", "ref-42")

    # Another tenant's token cannot reach this upload; the API without a token is closed.
    assert (
        await vp.http.head(location.replace(url, url[:-4] + "AAAA"), headers=tus)
    ).status_code == 403
    assert (await vp.http.get("/v1/uploads")).status_code == 401


async def test_cancelled_direct_upload_refuses_uploads(vp: VideoApp) -> None:
    tenant = new_tenant()
    created = await vp.http.post(
        "/v1/uploads", json={}, headers=vp.headers(tenant, **{"Idempotency-Key": "d2"})
    )
    url = urlsplit(created.json()["url"]).path
    cancel = await vp.http.put(
        f"/v1/uploads/{created.json()['id']}/cancel", headers=vp.headers(tenant)
    )
    assert cancel.json()["status"] == "cancelled"
    refused = await vp.http.post(url, headers={"Tus-Resumable": "1.0.0", "Upload-Length": "5"})
    assert refused.status_code == 409


async def test_import_from_url(vp: VideoApp, small_video: Path) -> None:
    """Fetched by a job through the SSRF guard: loopback is refused unless configured."""
    from starlette.applications import Starlette
    from starlette.responses import FileResponse
    from starlette.routing import Route

    from v100.kit.testing.servers import serving

    async def serve_file(request: object) -> FileResponse:
        return FileResponse(small_video, media_type="video/mp4")

    tenant = new_tenant()
    async with serving(Starlette(routes=[Route("/clip.mp4", serve_file)])) as origin:
        refused = await vp.http.post(
            "/v1/videos", json={"input_url": f"{origin}/clip.mp4"}, headers=vp.headers(tenant)
        )
        assert refused.status_code == 202, refused.text
        assert refused.json()["status"] == "uploading"
        video = await vp.wait(tenant, refused.json()["id"])
        assert video["status"] == "errored"
        assert video["error"]["type"] == "url-not-allowed"

        vp.settings.import_allow_cidrs.append("127.0.0.0/8")
        try:
            allowed = await vp.http.post(
                "/v1/videos",
                json={"input_url": f"{origin}/clip.mp4", "title": "imported"},
                headers=vp.headers(tenant),
            )
            video = await vp.wait(tenant, allowed.json()["id"])
        finally:
            vp.settings.import_allow_cidrs.clear()
    assert video["status"] == "ready", video["error"]
    assert video["title"] == "imported"
    assert video["duration"] == pytest.approx(3.0, abs=0.1)
