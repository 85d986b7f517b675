"""``v100 clips make`` as a customer runs it, through the real gateway with an API key: the
talking-heads file uploaded with tus, processed by video_processing, analysed for highlights,
the best rendered as a 9:16 clip and downloaded; the file is an H.264/AAC MP4 of that aspect.
Embedded backend only (the API's backends are covered by test_clips.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.billed import Backend
from v100 import media
from v100.cli import app as cli
from v100.kit.testing.net import free_port
from v100.kit.testing.servers import dead_url, serving
from v100.services.video_analysis.app import create_app
from v100.services.video_analysis.settings import VideoAnalysisSettings
from v100.services.video_processing.app import create_app as create_video_processing
from v100.services.video_processing.settings import VideoProcessingSettings

from .support import Talk
from .test_through_gateway import gateway_in_front_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


async def test_clips_make_uploads_analyses_renders_and_downloads(
    backend: Backend, billing_url: str, talk: Talk, tmp_path: Path
) -> None:
    if backend.name != "embedded":
        pytest.skip("the command's logic does not depend on the backend")
    port = free_port()  # the gateway's: tus answers its public URL
    vp_settings = VideoProcessingSettings(
        platform=backend.platform, billing_url=billing_url,
        public_base_url=f"http://127.0.0.1:{port}", hls_segment_seconds=1.0,
        clip_preset="ultrafast",
    )  # fmt: skip
    (tmp_path / "gateway").mkdir()
    async with serving(create_video_processing(vp_settings), ready=True) as vp_url:
        settings = VideoAnalysisSettings(
            platform=backend.platform, billing_url=billing_url, video_processing_url=vp_url,
            transcription_url=dead_url(), workers=2,
        )  # fmt: skip
        async with (
            serving(create_app(settings), ready=True) as va_url,
            gateway_in_front_of(
                {"video_analysis": va_url, "video_processing": vp_url}, tmp_path / "gateway", port
            ) as gateway,
        ):
            owner = await gateway.signup(tenant_name="Clips")
            scopes = ["videos:write", "videos:read", "analyses:write", "analyses:read"]
            key = (await gateway.create_key(owner.headers, scopes))["key"]
            out = tmp_path / "clips"
            args = ["clips", "make", str(talk.path), "--count", "1", "--duration", "2-30",
                    "--aspect", "9:16", "--out", str(out)]  # fmt: skip
            env = {"V100_URL": str(gateway.http.base_url).rstrip("/"), "V100_API_KEY": key}
            result = await asyncio.to_thread(CliRunner().invoke, cli, args, env=env)
    assert result.exit_code == 0, result.output
    (clip,) = sorted(out.glob("*.mp4"))
    assert str(clip.name) in result.output.replace("\n", "")
    info = await media.probe(clip)
    assert info.video is not None
    assert info.audio is not None
    assert (info.video.codec, info.audio.codec) == ("h264", "aac")
    assert info.video.display_width * 16 == info.video.display_height * 9
    assert 1.0 < info.duration <= 30.5
