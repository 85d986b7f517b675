"""The video pipeline's "done means", through the gateway with an API key: a ~200 MB file
uploaded with the real tuspy client, cut off mid-chunk and resumed by a new client from the
upload URL, becomes a playable HLS ladder (read back with PyAV through the public, signed
playback URLs), an MP4, a poster and a storyboard. Also: a browser-style direct upload with no
API key through the gateway, and ``v100 video upload --wait`` as a user runs it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import av
import httpx
import pytest
from tusclient import client as tus_client

from v100.kit.settings import PlatformSettings
from v100.kit.testing.net import CuttableTcpProxy
from v100.kit.testing.servers import serving
from v100.media import ffmpeg_path
from v100.media.testing import make_video
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.settings import BillingSettings
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.testing import INTERNAL_SECRET, PASSWORD, gateway_settings_for
from v100.services.video_processing.app import create_app as create_video_processing
from v100.services.video_processing.settings import VideoProcessingSettings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

MiB = 1024 * 1024
V100 = str(Path(sys.executable).with_name("v100"))


@dataclass
class Stack:
    gateway: str
    api_key: str
    tmp: Path
    # The network path in front of the gateway, which callers are told about (V100_PUBLIC_URL):
    # a test can cut it.
    front: CuttableTcpProxy


async def _until_ready(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        for _ in range(600):
            if (await http.get("/ready")).status_code == 200:
                return
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{url} not ready")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """gateway -> video_processing -> billing, each a real uvicorn server on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        gateway_port = int(sock.getsockname()[1])
    front = CuttableTcpProxy("127.0.0.1", gateway_port)
    platform = PlatformSettings(
        var_dir=tmp_path,
        internal_token_secret=INTERNAL_SECRET,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/{{service}}.db",
        storage_url=f"file://{tmp_path}/objects",
        # The URLs handed out (tus Location, direct uploads) name the way in, as configured.
        public_url=f"http://127.0.0.1:{front.port}",
    )
    async with serving(create_billing(BillingSettings(platform=platform))) as billing:
        settings = VideoProcessingSettings(platform=platform, billing_url=billing)
        async with serving(create_video_processing(settings)) as video:
            gateway_settings = gateway_settings_for(
                f"sqlite+aiosqlite:///{tmp_path}/gateway.db",
                tmp_path,
                upstreams={"video_processing": video, "billing": billing},
            )
            async with serving(create_gateway(gateway_settings), port=gateway_port) as gateway:
                for url in (billing, video, gateway):
                    await _until_ready(url)
                async with httpx.AsyncClient(base_url=gateway, trust_env=False) as http:
                    signup = await http.post(
                        "/v1/auth/signup",
                        json={"email": "vid@example.com", "password": PASSWORD,
                              "tenant_name": "Films"},
                    )  # fmt: skip
                    assert signup.status_code == 201, signup.text
                    token = signup.json()["access_token"]
                    created = await http.post(
                        "/v1/api-keys",
                        headers={"Authorization": f"Bearer {token}"},
                        json={"name": "e2e", "scopes": ["*"]},
                    )
                    assert created.status_code == 201, created.text
                await front.open()
                try:
                    yield Stack(gateway, created.json()["key"], tmp_path, front)
                finally:
                    await front.cut()


@pytest.fixture(scope="session")
def big_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~200 MB: 40 s of 640x360 noise at 40 Mbit/s, with a tone (made once per session)."""
    path = tmp_path_factory.mktemp("big") / "big.mp4"
    subprocess.run(
        [
            ffmpeg_path(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=40",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=40",
            "-vf", "noise=alls=30:allf=t",
            "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "40M", "-maxrate", "40M",
            "-bufsize", "80M", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return path


async def _wait_ready(stack: Stack, upload_id: str, within: float = 600.0) -> dict:
    headers = {"X-API-Key": stack.api_key}
    deadline = time.monotonic() + within
    video: dict | None = None
    seen_progress: set[int] = set()
    async with httpx.AsyncClient(base_url=stack.gateway, headers=headers, trust_env=False) as http:
        while time.monotonic() < deadline:
            if video is None:
                answer = await http.get("/v1/videos", params={"upload_id": upload_id})
            else:
                answer = await http.get(f"/v1/videos/{video['id']}")
            if answer.status_code == 429:  # the free tier's rate limit: wait as told
                await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
                continue
            assert answer.status_code == 200, answer.text
            body = answer.json()
            video = (body["items"] or [None])[0] if "items" in body else body
            if video is not None:
                seen_progress.add(video["progress"])
                if video["status"] in ("ready", "errored"):
                    video["_seen_progress"] = sorted(seen_progress)
                    return video
            await asyncio.sleep(1.0)
    raise TimeoutError(f"not settled: {video}")


async def _read_back(video: dict, into: Path) -> None:
    """Fetch the ladder through the gateway with no credentials, as a player does, and decode
    every rung's first frames; check the downloads."""
    playback = video["playback"]
    async with httpx.AsyncClient(trust_env=False, timeout=60) as player:
        master = await player.get(playback["hls"])
        assert master.status_code == 200, master.text
        assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
        base = playback["hls"].rsplit("/", 1)[0]
        (into / "hls").mkdir(parents=True, exist_ok=True)
        (into / "hls" / "master.m3u8").write_text(master.text)
        playlists = [
            line.strip() for line in master.text.splitlines() if line and not line.startswith("#")
        ]
        playlists += [
            line.split('URI="', 1)[1].split('"', 1)[0] for line in master.text.splitlines()
            if 'URI="' in line
        ]  # fmt: skip
        assert playlists
        for playlist in playlists:
            text = (await player.get(f"{base}/{playlist}")).text
            folder = into / "hls" / playlist.rsplit("/", 1)[0]
            folder.mkdir(parents=True, exist_ok=True)
            (into / "hls" / playlist).write_text(text)
            names = [line for line in text.splitlines() if line and not line.startswith("#")]
            names += [
                line.split('URI="', 1)[1].split('"', 1)[0] for line in text.splitlines()
                if 'URI="' in line
            ]  # fmt: skip
            for name in names:
                answer = await player.get(f"{base}/{playlist.rsplit('/', 1)[0]}/{name}")
                assert answer.status_code == 200, name
                (folder / name).write_bytes(answer.content)
        local = into / "hls" / "master.m3u8"
        with av.open(str(local), options={"protocol_whitelist": "file"}) as container:
            assert container.duration / 1e6 == pytest.approx(video["duration"], abs=1.0)
            assert next(container.decode(video=0)).width > 0
        for name in ("mp4", "poster", "storyboard", "storyboard_vtt"):
            answer = await player.get(playback[name])
            assert answer.status_code == 200, (name, answer.text[:200])
            assert answer.content
        mp4 = into / "video.mp4"
        mp4.write_bytes((await player.get(playback["mp4"])).content)
        with av.open(str(mp4)) as container:
            assert container.duration / 1e6 == pytest.approx(video["duration"], abs=0.5)


async def test_200_mb_upload_interrupted_and_resumed_becomes_a_playable_ladder(
    stack: Stack, big_video: Path
) -> None:
    size = (await asyncio.to_thread(big_video.stat)).st_size
    assert size > 150 * MiB
    proxy = stack.front
    endpoint = f"http://127.0.0.1:{proxy.port}/v1/uploads"
    headers = {"X-API-Key": stack.api_key}
    three_chunks_in = threading.Event()

    def first_client() -> tuple[str, int]:
        client = tus_client.TusClient(endpoint, headers=headers)
        uploader = client.uploader(
            str(big_video), chunk_size=16 * MiB, metadata={"filename": "big.mp4"}
        )
        for _ in range(3):
            uploader.upload_chunk()
        three_chunks_in.set()
        try:
            while uploader.offset < size:
                uploader.upload_chunk()
        except Exception:
            return str(uploader.url), uploader.offset
        raise AssertionError("the upload was never interrupted")

    started = time.monotonic()
    first = asyncio.create_task(asyncio.to_thread(first_client))
    await asyncio.to_thread(three_chunks_in.wait, 120)
    await asyncio.sleep(0.05)
    await proxy.cut()
    url, offset_before = await first
    assert 48 * MiB <= offset_before < size
    await proxy.open()

    def second_client() -> int:
        # A fresh client that only knows the upload URL: it asks the server where to resume.
        client = tus_client.TusClient(endpoint, headers=headers)
        # retries: the server may still hold the cut request's write lease for a moment (423),
        # as tus-js-client's retryDelays also expect.
        uploader = client.uploader(
            str(big_video), url=url, chunk_size=32 * MiB, retries=30, retry_delay=1
        )
        resumed_at = uploader.offset
        uploader.upload()
        assert uploader.offset == size
        return resumed_at

    resumed_at = await asyncio.to_thread(second_client)
    upload_seconds = time.monotonic() - started
    assert resumed_at >= 48 * MiB  # nothing before the cut is sent twice
    upload_id = url.rstrip("/").rsplit("/", 1)[1]
    video = await _wait_ready(stack, upload_id)
    assert video["status"] == "ready", video["error"]
    assert video["duration"] == pytest.approx(40.0, abs=0.5)
    assert {"master", "360p", "mp4", "m4a", "poster", "storyboard"} <= {
        r["name"] for r in video["renditions"]
    }
    assert len(video["_seen_progress"]) > 2  # progress moved while processing
    await _read_back(video, stack.tmp / "read-back")
    print(f"\n200 MB upload through the gateway (with one cut): {upload_seconds:.1f} s")


async def test_direct_upload_through_the_gateway_needs_no_api_key(
    stack: Stack, tmp_path: Path
) -> None:
    source = make_video(tmp_path / "browser.webm", seconds=2, width=320, height=240)
    async with httpx.AsyncClient(base_url=stack.gateway, trust_env=False) as http:
        created = await http.post(
            "/v1/uploads",
            json={"new_video": {"title": "from a browser"}},
            headers={"X-API-Key": stack.api_key, "Idempotency-Key": "direct-1"},
        )
        assert created.status_code == 201, created.text
        direct = created.json()

    def browser() -> str:
        client = tus_client.TusClient(direct["url"])  # no API key: the URL is the credential
        uploader = client.uploader(str(source), chunk_size=64 * 1024)
        uploader.upload()
        return str(uploader.url)

    location = await asyncio.to_thread(browser)
    assert location.startswith(direct["url"] + "/")
    video = await _wait_ready(stack, location.rsplit("/", 1)[1], within=120)
    assert video["status"] == "ready", video["error"]
    assert video["title"] == "from a browser"
    async with httpx.AsyncClient(trust_env=False) as player:
        assert (await player.get(video["playback"]["hls"])).status_code == 200
        # The playback prefix is public, the token is not optional.
        forged = video["playback"]["hls"].replace("/playback/", "/playback/x")
        assert (await player.get(forged)).status_code == 403


async def test_cli_uploads_and_waits(stack: Stack, tmp_path: Path) -> None:
    source = make_video(tmp_path / "cli.mp4", seconds=2, width=320, height=240)
    env = {**os.environ, "V100_URL": stack.gateway, "V100_API_KEY": stack.api_key}
    process = await asyncio.create_subprocess_exec(
        V100, "video", "upload", str(source), "--wait", "--chunk-mb", "1",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    text = output.decode()
    assert process.returncode == 0, text
    assert "ready" in text
    assert "/v1/videos/playback/" in text
