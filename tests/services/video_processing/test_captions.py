"""Caption tracks and the audio platform services read, on both backends: a ready video's M4A
described and streamed to a ``service:videos`` caller only (404 for another tenant's or an
unknown video, 409 while not ready or without audio), a track attached from a transcript
document listed and served as WebVTT and SRT, offered in the HLS master playlist as a subtitle
rendition players fetch with the signed playback URL, replaced (never doubled) when attached
again, and gone with its video."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from v100.kit.auth import Principal
from v100.kit.testing.http import auth_headers
from v100.media.testing import make_video

from .support import VideoApp, download_hls, fetch, new_tenant

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

DOCUMENT: dict[str, Any] = {
    "language": "en", "language_probability": 0.99, "duration": 3.0, "text": "Hello there.",
    "segments": [{"text": "Hello there.", "start": 0.5, "end": 1.5, "words": [
        {"word": "Hello", "start": 0.5, "end": 0.9, "confidence": 0.9},
        {"word": "there.", "start": 1.0, "end": 1.5, "confidence": 0.9}]}],
}  # fmt: skip


def service(vp: VideoApp, tenant_id: str) -> dict[str, str]:
    """A platform service's call for ``tenant_id`` (transcription's, contracts/videos.py)."""
    principal = Principal(tenant_id=tenant_id, scopes=frozenset({"service:videos"}))
    return auth_headers(vp.app, principal)


async def importing(vp: VideoApp, tenant: str) -> dict[str, Any]:
    """A video still ``uploading``: its import's first fetch fails, the retry waits seconds."""
    created = await vp.http.post(
        "/v1/videos",
        json={"input_url": "https://media.invalid/talk.mp4"},
        headers=vp.headers(tenant),
    )
    assert created.status_code == 202, created.text
    video = dict(created.json())
    assert video["status"] == "uploading"
    return video


async def ready_video(vp: VideoApp, tenant: str, source: Path) -> dict[str, Any]:
    upload_id = await vp.tus_upload(tenant, source)
    video = await vp.wait(tenant, (await vp.video_of_upload(tenant, upload_id))["id"])
    assert video["status"] == "ready", video
    return video


async def test_a_ready_videos_audio_goes_to_platform_services_only(
    vp: VideoApp, small_video: Path
) -> None:
    tenant, other = new_tenant(), new_tenant()
    video = await ready_video(vp, tenant, small_video)
    path = f"/v1/videos/{video['id']}/audio"

    described = await vp.http.get(path, headers=service(vp, tenant))
    assert described.status_code == 200, described.text
    audio = described.json()
    assert audio["video_id"] == video["id"]
    assert audio["content_type"] == "audio/mp4"
    assert audio["duration"] == pytest.approx(3.0, abs=0.2)
    content = await vp.http.get(f"{path}/content", headers=service(vp, tenant))
    assert content.status_code == 200
    assert content.headers["content-type"] == "audio/mp4"
    assert len(content.content) == audio["size"] > 1000
    assert content.content[4:8] == b"ftyp"

    # Not the tenant's own credential, however wide; not another tenant's service call.
    for headers, status in ((vp.headers(tenant), 403), (service(vp, other), 404)):
        for suffix in ("", "/content"):
            answer = await vp.http.get(f"{path}{suffix}", headers=headers)
            assert answer.status_code == status, answer.text
    unknown = await vp.http.get("/v1/videos/nope/audio", headers=service(vp, tenant))
    assert unknown.status_code == 404
    assert unknown.json()["type"] == "/problems/video-not-found"


async def test_no_audio_until_ready_and_none_without_an_audio_track(
    vp: VideoApp, media_dir: Path
) -> None:
    tenant = new_tenant()
    waiting = await importing(vp, tenant)
    for suffix in ("", "/content"):
        answer = await vp.http.get(
            f"/v1/videos/{waiting['id']}/audio{suffix}", headers=service(vp, tenant)
        )
        assert answer.status_code == 409, answer.text
        assert answer.json()["type"] == "/problems/video-not-ready"

    mute = make_video(media_dir / "mute.mp4", seconds=2, width=320, height=240, audio=False)
    video = await ready_video(vp, tenant, mute)
    answer = await vp.http.get(f"/v1/videos/{video['id']}/audio", headers=service(vp, tenant))
    assert answer.status_code == 409, answer.text
    assert answer.json()["type"] == "/problems/video-has-no-audio"


async def test_a_caption_track_is_served_and_offered_to_players(
    vp: VideoApp, small_video: Path, tmp_path: Path
) -> None:
    tenant, other = new_tenant(), new_tenant()
    video = await ready_video(vp, tenant, small_video)
    path = f"/v1/videos/{video['id']}/captions"
    body = {"transcript_id": "t-1", "document": DOCUMENT}

    refused = await vp.http.put(f"{path}/en", json=body, headers=vp.headers(tenant))
    assert refused.status_code == 403
    elsewhere = await vp.http.put(f"{path}/en", json=body, headers=service(vp, other))
    assert elsewhere.status_code == 404
    attached = await vp.http.put(f"{path}/en", json=body, headers=service(vp, tenant))
    assert attached.status_code == 200, attached.text
    assert attached.json()["name"] == "en (generated)"
    assert attached.json()["cues"] == 1

    listed = await vp.http.get(path, headers=vp.headers(tenant))
    assert listed.status_code == 200
    (track,) = listed.json()["items"]
    assert track["language"] == "en"
    assert track["source"] == "generated"
    assert track["transcript_id"] == "t-1"
    assert track["vtt_url"] == f"http://service{path}/en.vtt"
    vtt = await vp.http.get(f"{path}/en.vtt", headers=vp.headers(tenant))
    assert vtt.status_code == 200
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text == "WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nHello there.\n"
    srt = await vp.http.get(f"{path}/en.srt", headers=vp.headers(tenant))
    assert srt.headers["content-type"].startswith("application/x-subrip")
    assert srt.text == "1\n00:00:00,500 --> 00:00:01,500\nHello there.\n\n"
    for missing in (f"{path}/fr.vtt", f"{path}/en.txt"):
        answer = await vp.http.get(missing, headers=vp.headers(tenant))
        assert answer.status_code in (404, 422), answer.text
    assert (await vp.http.get(path, headers=vp.headers(other))).status_code == 404
    assert (await vp.http.get(f"{path}/en.vtt", headers=vp.headers(other))).status_code == 404

    # Players: the master offers the track, and the signed URL reaches its files.
    played = await vp.http.get(f"/v1/videos/{video['id']}", headers=vp.headers(tenant))
    master = await download_hls(vp.http, played.json()["playback"]["hls"], tmp_path / "hls")
    text = master.read_text()
    assert 'TYPE=SUBTITLES,GROUP-ID="subtitles",NAME="en (generated)",LANGUAGE="en"' in text
    assert all(
        line.endswith('SUBTITLES="subtitles"')
        for line in text.splitlines()
        if line.startswith("#EXT-X-STREAM-INF")
    )
    assert (tmp_path / "hls" / "subtitles" / "en.vtt").read_text() == vtt.text

    # Attached again (another language, then the same one anew): replaced, never doubled.
    again = {"transcript_id": "t-2", "document": {**DOCUMENT, "language": "fr"}}
    assert (await vp.http.put(f"{path}/fr", json=again, headers=service(vp, tenant))).is_success
    assert (await vp.http.put(f"{path}/en", json=again, headers=service(vp, tenant))).is_success
    listed = (await vp.http.get(path, headers=vp.headers(tenant))).json()["items"]
    assert [(t["language"], t["transcript_id"]) for t in listed] == [("en", "t-2"), ("fr", "t-2")]
    master = await fetch(vp.http, played.json()["playback"]["hls"])
    assert master.text.count("TYPE=SUBTITLES") == 2

    deleted = await vp.http.delete(f"/v1/videos/{video['id']}", headers=vp.headers(tenant))
    assert deleted.status_code == 204
    assert (await vp.http.get(path, headers=vp.headers(tenant))).status_code == 404


async def test_captions_need_a_ready_video_and_a_valid_document(vp: VideoApp) -> None:
    tenant = new_tenant()
    waiting = await importing(vp, tenant)
    path = f"/v1/videos/{waiting['id']}/captions"
    body = {"transcript_id": "t-1", "document": DOCUMENT}
    answer = await vp.http.put(f"{path}/en", json=body, headers=service(vp, tenant))
    assert answer.status_code == 409
    assert answer.json()["type"] == "/problems/video-not-ready"
    for language, document in (("EN", DOCUMENT), ("en", {**DOCUMENT, "duration": -1})):
        bad = {"transcript_id": "t-1", "document": document}
        answer = await vp.http.put(f"{path}/{language}", json=bad, headers=service(vp, tenant))
        assert answer.status_code == 422, answer.text
