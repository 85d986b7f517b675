"""The backends a live session streams to, by the names transcripts use: ``local`` (the local
streaming engine, ``v100.ai.asr.LocalLiveSession``, on a Whisper model of its own so live
decoding never queues behind a file's) and ``deepgram`` (``DeepgramLiveSession``, relayed to
Deepgram's ``/v1/listen`` WebSocket when a key is configured). Which one: as for transcripts
(the request's, else the tenant's, else the default)."""

from __future__ import annotations

import threading

from v100.ai.asr import (
    DeepgramLiveSession,
    LiveSession,
    LocalLiveSession,
    LocalWhisper,
    StreamingOptions,
)
from v100.kit.errors import NotConfigured
from v100.services.transcription.backends import BACKENDS, DEEPGRAM, LOCAL
from v100.services.transcription.errors import BackendUnknown
from v100.services.transcription.live_schemas import SessionOptions
from v100.services.transcription.settings import TranscriptionSettings

__all__ = ["LIVE_MODEL", "live_backend_for", "open_live"]


class _LiveModel:
    """The local live engine's Whisper, made on first use and kept for the process."""

    def __init__(self) -> None:
        self._whisper: LocalWhisper | None = None
        self._lock = threading.Lock()

    def get(self, settings: TranscriptionSettings) -> LocalWhisper:
        with self._lock:
            if self._whisper is None:
                cache = settings.model_dir or settings.platform.var_dir / "models"
                self._whisper = LocalWhisper(cache_dir=cache, pool="live")
            return self._whisper

    def close(self) -> None:
        with self._lock:
            if self._whisper is not None:
                self._whisper.close()
            self._whisper = None


LIVE_MODEL = _LiveModel()


def live_backend_for(settings: TranscriptionSettings, tenant_id: str, asked: str | None) -> str:
    """The backend a new session streams to; refused when it cannot stream or is not
    configured here."""
    name = BACKENDS.choose(settings, tenant_id, asked)
    if name not in (LOCAL, DEEPGRAM):
        raise BackendUnknown(
            f"No live transcription backend is named {name!r}; known: {LOCAL}, {DEEPGRAM}."
        )
    if name == DEEPGRAM and settings.deepgram_api_key is None:
        raise NotConfigured("The 'deepgram' transcription backend is not configured here.")
    return name


def _websocket_url(http_url: str) -> str:
    if http_url.startswith("https://"):
        return "wss://" + http_url.removeprefix("https://")
    return "ws://" + http_url.removeprefix("http://")


def open_live(
    name: str, settings: TranscriptionSettings, options: SessionOptions
) -> LiveSession | None:
    """The backend's live session for ``options``, not opened yet (``async with`` it); None
    when the backend lost its configuration since the session was made."""
    endpointing = options.endpointing if options.endpointing is not False else None
    if name == LOCAL:
        return LocalLiveSession(
            LIVE_MODEL.get(settings),
            StreamingOptions(
                language=options.language,
                interim_results=options.interim_results,
                endpointing_ms=endpointing,
                utterance_end_ms=options.utterance_end_ms,
                vad_events=options.vad_events,
            ),
        )
    if name == DEEPGRAM and settings.deepgram_api_key is not None:
        return DeepgramLiveSession(
            settings.deepgram_api_key.get_secret_value(),
            base_url=_websocket_url(settings.deepgram_api_url),
            language=options.language,
            interim_results=options.interim_results,
            endpointing_ms=endpointing,
            utterance_end_ms=options.utterance_end_ms,
            vad_events=options.vad_events,
        )
    return None
