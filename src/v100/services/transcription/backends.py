"""The speech-to-text backends a transcript can name, by name: one registry of factories, each
making a ``v100.ai.asr.Transcriber`` from the service's settings the first time it is used (the
model loads on its first transcription, off the event loop), then kept for the process.

A factory answering None means the backend is not configured here (the POST answers 501
``not-configured``). Which backend a transcript uses: the request's ``backend``, else the
tenant's (``settings.tenant_backends``), else ``settings.default_backend`` ("local")."""

from __future__ import annotations

import threading
from collections.abc import Callable

from v100.ai.asr import DeepgramTranscriber, LocalWhisper, Transcriber
from v100.services.transcription.settings import TranscriptionSettings

__all__ = ["BACKENDS", "DEEPGRAM", "LOCAL", "TranscriberRegistry"]

LOCAL = "local"
DEEPGRAM = "deepgram"

Factory = Callable[[TranscriptionSettings], Transcriber | None]


class TranscriberRegistry:
    def __init__(self) -> None:
        self._factories: dict[str, Factory] = {}
        self._made: dict[str, Transcriber] = {}
        self._lock = threading.Lock()

    def register(self, name: str, factory: Factory) -> None:
        self._factories[name] = factory

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._factories))

    def knows(self, name: str) -> bool:
        return name in self._factories

    def choose(self, settings: TranscriptionSettings, tenant_id: str, asked: str | None) -> str:
        """The backend's name for a request: asked, else the tenant's, else the default."""
        return asked or settings.tenant_backends.get(tenant_id) or settings.default_backend

    def configured(self, name: str, settings: TranscriptionSettings) -> bool:
        return self.get(name, settings) is not None

    def get(self, name: str, settings: TranscriptionSettings) -> Transcriber | None:
        """The backend's transcriber (made once per process); None when it is not configured."""
        with self._lock:
            made = self._made.get(name)
            if made is None:
                factory = self._factories.get(name)
                made = None if factory is None else factory(settings)
                if made is not None:
                    self._made[name] = made
            return made

    def close(self) -> None:
        with self._lock:
            for transcriber in self._made.values():
                close = getattr(transcriber, "close", None)
                if callable(close):
                    close()
            self._made.clear()


def _local(settings: TranscriptionSettings) -> Transcriber:
    # Joined weights are kept under the platform's var dir (one copy for every service).
    return LocalWhisper(cache_dir=settings.model_dir or settings.platform.var_dir / "models")


def _deepgram(settings: TranscriptionSettings) -> Transcriber | None:
    if settings.deepgram_api_key is None:
        return None
    key = settings.deepgram_api_key.get_secret_value()
    return DeepgramTranscriber(key, base_url=settings.deepgram_api_url)


BACKENDS = TranscriberRegistry()
BACKENDS.register(LOCAL, _local)
BACKENDS.register(DEEPGRAM, _deepgram)
