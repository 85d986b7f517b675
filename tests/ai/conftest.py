"""Fixtures for the speech models: espeak-ng (installed from Debian's packages when missing,
as scripts/test.sh does for FFmpeg), speech made from known text, and one Whisper model for the
whole session (loading it costs about a second and 200 MB)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from v100.ai.asr import LocalWhisper, Transcript
from v100.ai.testing import make_speech

ENGLISH = (
    "The meeting starts at 3 o'clock on Monday, and we expect 25 people to join. "
    "Please bring your laptop and a printed copy of the quarterly report. "
    "The budget for the new project is 40 thousand dollars, which is more than last year."
)
GERMAN = (
    "Guten Morgen. Heute sprechen wir über das neue Projekt und den Zeitplan für die "
    "nächsten Wochen. Bitte lesen Sie den Bericht vor der Besprechung."
)
SPANISH = (
    "Buenos días a todos. Hoy vamos a hablar del nuevo proyecto y del calendario para las "
    "próximas semanas. Por favor, lean el informe antes de la reunión."
)


def _install_espeak() -> str | None:
    """espeak-ng from Debian's packages, once per machine (a lock keeps xdist workers from
    running apt-get together). None, with the reason left to the skip, when it cannot be had."""
    if shutil.which("espeak-ng"):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "espeak-ng is missing and apt-get cannot install it here (not root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "espeak-ng"]
    with open("/tmp/v100-espeak-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if shutil.which("espeak-ng"):
            return None
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
            done = subprocess.run(install, env=env, capture_output=True, check=False)
            if done.returncode:
                return f"apt-get could not install espeak-ng: {done.stderr.decode()[-300:]}"
    return None


@pytest.fixture(scope="session")
def espeak() -> None:
    reason = _install_espeak()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory, espeak: None) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def english_speech(speech_dir: Path) -> Path:
    # Opus in Ogg: a lossy codec in a container, so decoding goes through FFmpeg for real.
    return make_speech(speech_dir / "english.ogg", ENGLISH, voice="en-us", silence_before=3.0)


@pytest.fixture(scope="session")
def english_transcript(whisper: LocalWhisper, english_speech: Path) -> Transcript:
    # Decoded once: most tests read the same transcript.
    return whisper.transcribe(english_speech)


@pytest.fixture(scope="session")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWhisper]:
    backend = LocalWhisper(cache_dir=tmp_path_factory.mktemp("models"))
    yield backend
    backend.close()
