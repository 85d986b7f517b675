"""Language detection on both backends: English, German and Spanish text (py3langid) and
espeak-ng speech in an audio and a video input (Whisper's detector); silence, a picture with
no sound and damaged media each a clear 422; another tenant's input is 404; scopes."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from v100.ai.testing import make_silence, make_speech
from v100.kit.auth import Principal
from v100.kit.testing.http import auth_headers
from v100.media import ffmpeg_path
from v100.media.testing import make_broken, make_video

from .support import MediaApp, new_tenant

# One app per backend for the module (conftest.py): its tests run on the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")

TEXTS = {
    "en": "The meeting starts at three on Monday, and we expect twenty people to join us.",
    "de": "Guten Morgen. Heute sprechen wir über das neue Projekt und den Zeitplan.",
    "es": "Buenos días a todos. Hoy vamos a hablar del nuevo proyecto y del calendario.",
}
SPEECH = {
    "de": ("de", "Guten Morgen. Heute sprechen wir über das neue Projekt und den Zeitplan für "
                 "die nächsten Wochen. Bitte lesen Sie den Bericht vor der Besprechung."),
    "es": ("es", "Buenos días a todos. Hoy vamos a hablar del nuevo proyecto y del calendario "
                 "para las próximas semanas. Por favor, lean el informe antes de la reunión."),
}  # fmt: skip


async def detect(mp: MediaApp, tenant: str, body: dict[str, Any]) -> Any:
    return await mp.http.post("/v1/media/language-detection", json=body, headers=mp.headers(tenant))


@pytest.fixture(scope="session")
def speech_files(media_dir: Path) -> dict[str, Path]:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    files = {
        name: make_speech(media_dir / f"speech-{name}.ogg", text, voice=voice, silence_before=2.0)
        for name, (voice, text) in SPEECH.items()
    }
    # English speech as the sound of a video (two minutes of picture would be slow: 12 s).
    english = make_speech(
        media_dir / "speech-en.wav",
        "Please bring your laptop and a printed copy of the quarterly report to the meeting.",
        voice="en-us",
    )
    video = make_video(media_dir / "speech-video-base.mp4", seconds=6, audio=False)
    files["en-video"] = media_dir / "speech-en.mp4"
    subprocess.run(
        [ffmpeg_path(), "-loglevel", "error", "-y", "-i", str(video), "-i", str(english),
         "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest",
         str(files["en-video"])],
        check=True,
    )  # fmt: skip
    files["silence"] = make_silence(media_dir / "silence.wav", seconds=5)
    files["mute-video"] = video
    files["broken"] = make_broken(media_dir / "broken-language.mp4", "not_media")
    return files


@pytest.mark.parametrize("language", sorted(TEXTS))
async def test_text_language(mp: MediaApp, language: str) -> None:
    answer = await detect(mp, new_tenant(), {"text": TEXTS[language]})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["language"] == language
    assert found["probability"] > 0.8
    assert found["source"] == "text"
    assert found["detector"] == "py3langid"
    assert 1 <= len(found["alternatives"]) <= 4
    assert all(a["language"] != language for a in found["alternatives"])
    assert all(a["probability"] <= found["probability"] for a in found["alternatives"])


async def test_text_without_letters_or_both_sources_is_422(mp: MediaApp) -> None:
    tenant = new_tenant()
    none = await detect(mp, tenant, {"text": "12 34 -- !!"})
    assert none.status_code == 422
    assert none.json()["type"].endswith("/language-undetermined")
    for body in ({}, {"text": "hello", "input": "x.wav"}, {"text": ""}):
        assert (await detect(mp, tenant, body)).status_code == 422, body


@pytest.mark.slow
async def test_speech_language_in_audio_and_video_inputs(
    mp: MediaApp, speech_files: dict[str, Path]
) -> None:
    tenant = new_tenant()
    for name in ("de", "es", "en-video"):
        data = await asyncio.to_thread(speech_files[name].read_bytes)
        assert (await mp.put_input(tenant, speech_files[name].name, data)).status_code == 200
    for name, expected in (("de", "de"), ("es", "es"), ("en-video", "en")):
        answer = await detect(mp, tenant, {"input": speech_files[name].name})
        assert answer.status_code == 200, answer.text
        found = answer.json()
        assert found["language"] == expected, found
        assert found["probability"] > 0.5
        assert found["source"] == "audio"
        assert found["detector"] == "whisper-base"
        assert 0 < found["analysed_seconds"] <= mp.settings.language_detection_seconds
        assert all(a["language"] != expected for a in found["alternatives"])


@pytest.mark.slow
async def test_media_without_speech_or_unreadable_is_422(
    mp: MediaApp, speech_files: dict[str, Path]
) -> None:
    tenant = new_tenant()
    expected = {"silence": "language-undetermined", "mute-video": "media-input-unreadable",
                "broken": "media-input-unreadable"}  # fmt: skip
    for name in expected:
        data = await asyncio.to_thread(speech_files[name].read_bytes)
        assert (await mp.put_input(tenant, speech_files[name].name, data)).status_code == 200
    for name, slug in expected.items():
        answer = await detect(mp, tenant, {"input": speech_files[name].name})
        assert answer.status_code == 422, (name, answer.text)
        assert answer.json()["type"].endswith(f"/{slug}"), (name, answer.json())


async def test_another_tenants_input_is_404_and_scope_is_media_read(
    mp: MediaApp, quiet_tone: bytes
) -> None:
    tenant, other = new_tenant(), new_tenant()
    assert (await mp.put_input(tenant, "tone.wav", quiet_tone, "audio/wav")).status_code == 200
    answer = await detect(mp, other, {"input": "tone.wav"})
    assert answer.status_code == 404
    assert answer.json()["type"].endswith("/media-input-not-found")
    headers = auth_headers(mp.app, Principal(tenant_id=tenant, user_id="u",
                                             scopes=frozenset({"videos:read"})))  # fmt: skip
    refused = await mp.http.post("/v1/media/language-detection", json={"text": "hello there"},
                                 headers=headers)  # fmt: skip
    assert refused.status_code == 403
