"""The transcript stage against a real transcription app (local Whisper) on loopback: the
analysis asks for the video's transcript, waits for it and stores it (its text close to what the
heads said); asked again, transcription answers the same finished transcript instead of making
another. Embedded backend only: the stage's logic is the same on both, and each run loads the
speech model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.billed import Backend
from tests.support.shared_backend import made_module_backend
from v100.ai.testing import word_error_rate
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import serving
from v100.services.transcription.app import create_app as create_transcription
from v100.services.transcription.settings import TranscriptionSettings
from v100.services.video_analysis.app import create_app

from .support import FIRST_LINE, SECOND_LINE, AnalysisApp, Stack, Talk, new_tenant

ONE_BACKEND = "one backend is enough for the stage's logic (see the module docstring)"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(
    scope="module",
    params=[
        "embedded",
        pytest.param("distributed", marks=pytest.mark.skip(reason=ONE_BACKEND)),
    ],
)
def module_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, internal_secret: str
) -> Iterator[Backend]:
    """The conftest's, with distributed skipped before its stack is made (a database and two
    apps, about 15 s at load 20, for a test that would skip)."""
    yield from made_module_backend(request, tmp_path_factory, internal_secret)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


async def test_the_transcript_stage_reads_the_videos_transcript(
    stack: Stack, module_backend: Backend, talk: Talk, model_dir: Path
) -> None:
    tenant = new_tenant()
    video = await stack.ready_video(tenant, talk.path)
    ts_settings = TranscriptionSettings(
        platform=module_backend.platform, billing_url=stack.va.billing, model_dir=model_dir,
        video_processing_url=str(stack.vp.http.base_url).rstrip("/"),
    )  # fmt: skip
    async with serving(create_transcription(ts_settings), ready=True) as ts_url:
        settings = stack.va.settings.model_copy(update={"transcription_url": ts_url})
        app = create_app(settings)
        async with running_app(app) as http:
            va = AnalysisApp(app=app, http=http, settings=settings, billing=stack.va.billing)
            created = await va.create(tenant, {"video_id": video["id"], "stages": ["transcript"]})
            assert created.status_code == 202, created.text
            done = await va.wait(tenant, created.json()["id"], within=600)
            assert done["status"] == "completed", done
            assert done["progress"]["transcript"]["status"] == "completed", done
            result = (await va.get(tenant, f"/v1/analyses/{done['id']}/transcript")).json()
            said = f"{FIRST_LINE} {SECOND_LINE} {FIRST_LINE}"
            assert word_error_rate(said, result["text"]) <= 0.2, result["text"]
            assert result["language"] == "en"

            again = await va.create(tenant, {"video_id": video["id"], "stages": ["transcript"]})
            second = await va.wait(tenant, again.json()["id"], within=120)
            result2 = (await va.get(tenant, f"/v1/analyses/{second['id']}/transcript")).json()
            assert result2["transcript_id"] == result["transcript_id"]
