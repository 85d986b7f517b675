"""Fixtures for transcription's tests: the real app (real migrations, middleware, jobs, the
local Whisper backend) on SQLite with local disk ("embedded") and on PostgreSQL with S3
("distributed"), next to the session's real billing app so credit holds are real; speech made
by espeak-ng from known text once per session (skipped, saying why, without espeak-ng)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.billed import Backend
from v100.ai.testing import espeak_ng, make_silence, make_speech
from v100.kit.testing.http import running_app
from v100.services.transcription.app import create_app
from v100.services.transcription.settings import TranscriptionSettings

from .support import INTERNAL_SECRET, TranscriptionApp

SPOKEN = (
    "The quick brown fox jumps over the lazy dog. "
    "We meet every morning to plan the work of the day."
)


@pytest.fixture
def internal_secret() -> str:
    return INTERNAL_SECRET


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The joined Whisper weights, once for the session (not once per test's var dir)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def ts_settings(backend: Backend, billing_url: str, model_dir: Path) -> TranscriptionSettings:
    return TranscriptionSettings(
        platform=backend.platform, billing_url=billing_url, model_dir=model_dir
    )


@pytest.fixture
async def ts(ts_settings: TranscriptionSettings) -> AsyncIterator[TranscriptionApp]:
    app = create_app(ts_settings)
    async with running_app(app) as http:
        yield TranscriptionApp(
            app=app, http=http, settings=ts_settings, billing=ts_settings.billing_url
        )


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("transcription-media")


@pytest.fixture(scope="session")
def speech(media_dir: Path) -> bytes:
    """``SPOKEN`` said by espeak-ng, with a second of silence either side (WAV)."""
    if espeak_ng() is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    path = make_speech(media_dir / "speech.wav", SPOKEN, silence_before=1.0, silence_after=1.0)
    return path.read_bytes()


@pytest.fixture(scope="session")
def silence(media_dir: Path) -> bytes:
    """Eight seconds of digital silence (WAV)."""
    return make_silence(media_dir / "silence.wav", seconds=8.0).read_bytes()
