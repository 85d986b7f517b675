"""Who spoke each word: Deepgram finds speakers itself (its ``diarize`` option, asked per
transcript); for the other backends the local diarizer (``v100.ai.diarization``, the optional
``diarization`` extra) runs on the same PCM after transcription, off the event loop, and its
speakers go onto the words and segments.

``DIARIZER`` holds the local diarizer, made once per process; it is None when the installation
turned it off (``local_diarization``) or the extra is not installed."""

from __future__ import annotations

import threading
from typing import TypeGuard

from v100.ai.asr import DeepgramTranscriber, Transcriber, Transcript
from v100.ai.audio import PcmSource
from v100.ai.diarization import Diarizer, LocalDiarizer, diarization_available, label_speakers
from v100.services.transcription.errors import TranscriptFailed
from v100.services.transcription.settings import TranscriptionSettings

__all__ = ["DIARIZER", "DiarizerSlot", "finds_own_speakers", "transcribe"]


class DiarizerSlot:
    def __init__(self) -> None:
        self._made: LocalDiarizer | None = None
        self._lock = threading.Lock()

    def get(self, settings: TranscriptionSettings) -> Diarizer | None:
        """The local diarizer (its model loads on first use), or None where there is none."""
        if not settings.local_diarization or not diarization_available():
            return None
        with self._lock:
            if self._made is None:
                self._made = LocalDiarizer()
            return self._made

    def close(self) -> None:
        with self._lock:
            if self._made is not None:
                self._made.close()
            self._made = None


DIARIZER = DiarizerSlot()


def finds_own_speakers(transcriber: Transcriber | None) -> TypeGuard[DeepgramTranscriber]:
    return isinstance(transcriber, DeepgramTranscriber)


async def transcribe(
    transcriber: Transcriber,
    pcm: PcmSource,
    *,
    language: str | None,
    diarize: bool,
    settings: TranscriptionSettings,
) -> Transcript:
    """``pcm`` transcribed, with speakers on its words when ``diarize``."""
    if finds_own_speakers(transcriber):
        return await transcriber.transcribe_async(pcm, language, diarize=diarize)
    transcript = await transcriber.transcribe_async(pcm, language=language)
    if not diarize or not transcript.segments:
        return transcript
    diarizer = DIARIZER.get(settings)
    if diarizer is None:
        raise TranscriptFailed(
            "diarization-not-configured", "speaker diarization is not available here any more"
        )
    return label_speakers(transcript, await diarizer.diarize_async(pcm))
