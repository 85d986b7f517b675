"""Language detection, answered in the request: a text through py3langid (``v100.ai.langid``),
an audio or video input through Whisper's own detector (``v100.ai.asr``) on the speech found
in its first ``language_detection_seconds``, decoded by FFmpeg and detected on the model's own
thread, never on the event loop. The Whisper model is one per process, loaded on first use."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from v100 import media
from v100.ai.asr import LocalWhisper
from v100.ai.langid import rank_languages
from v100.kit.http import Component, Runtime
from v100.kit.storage import ObjectStore
from v100.media.jobs import download
from v100.services.media_processor.errors import EmptyInput, InputUnreadable, LanguageUndetermined
from v100.services.media_processor.settings import MediaProcessorSettings

__all__ = ["LanguageFound", "detect_in_media", "detect_in_text", "speech_models"]

_ALTERNATIVES = 4
_DECODE_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class LanguageFound:
    language: str
    probability: float
    alternatives: list[tuple[str, float]]
    source: str  # "text" or "audio"
    detector: str
    analysed_seconds: float | None = None


def speech_models(settings: MediaProcessorSettings) -> Component:
    """The component that gives endpoints the process's ``LocalWhisper`` (nothing is loaded
    until a detection needs it) and stops its thread at shutdown."""

    @contextlib.asynccontextmanager
    async def running(runtime: Runtime) -> AsyncIterator[None]:
        cache = settings.whisper_model_dir or settings.platform.var_dir / "models"
        whisper = LocalWhisper(cache_dir=cache, pool="language")
        runtime.provide(whisper)
        try:
            yield
        finally:
            whisper.close()

    return running


def detect_in_text(text: str) -> LanguageFound:
    ranked = rank_languages(text, top=_ALTERNATIVES + 1)
    if not ranked:
        raise LanguageUndetermined("The text has no letters to tell a language by.")
    best, *rest = ranked
    return LanguageFound(
        best.language, round(best.probability, 4),
        [(guess.language, round(guess.probability, 4)) for guess in rest], "text", "py3langid",
    )  # fmt: skip


async def detect_in_media(
    storage: ObjectStore, key: str, whisper: LocalWhisper, *, seconds: float
) -> LanguageFound:
    """Whisper's detector on the speech of the first ``seconds`` of the stored media ``key``.
    ``InputUnreadable`` / ``EmptyInput`` for what is not audio we read; ``LanguageUndetermined``
    when no speech is found."""
    with tempfile.TemporaryDirectory(prefix="v100-language-") as scratch:
        source, audio = Path(scratch) / "input", Path(scratch) / "speech.wav"
        await download(storage, key, source)
        try:
            info = await media.probe(source)
            if info.audio is None:
                raise media.UnsupportedMedia("the file has no audio stream")
            analysed = min(info.duration, seconds) if info.duration > 0 else seconds
            await media.run_ffmpeg(
                [
                    *media.input_args(source),
                    "-map", "0:a:0", "-vn", "-sn", "-dn", "-t", f"{seconds:.3f}",
                    "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", str(audio),
                ],
                timeout=_DECODE_TIMEOUT,
            )  # fmt: skip
            detected = await whisper.detect_language_async(audio)
        except media.EmptyMedia as exc:
            raise EmptyInput(f"The input has no audio to listen to: {exc.reason}.") from exc
        except media.MediaError as exc:
            raise InputUnreadable(f"The input cannot be decoded: {exc.reason}.") from exc
    if detected is None:
        raise LanguageUndetermined(f"No speech was found in the first {analysed:.0f} s.")
    return LanguageFound(
        detected.language,
        round(detected.probability, 4),
        [(code, round(p, 4)) for code, p in detected.candidates if code != detected.language][
            :_ALTERNATIVES
        ],
        "audio",
        "whisper-base",
        round(analysed, 3),
    )
