"""What a live session's WebSocket says, in the shape of Deepgram's live API (so a client
written for it reads ours): ``Results`` (``channel.alternatives[0]`` with ``transcript``,
``confidence`` and ``words``; ``is_final``, ``speech_final``, ``from_finalize``, ``start``,
``duration``), ``UtteranceEnd`` (``last_word_end``), ``SpeechStarted`` (``timestamp``), and
``Metadata`` last; plus ``Warning`` for a control message we do not know (it is not dropped
silently). Times are seconds from the start of the stream."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from v100.ai.asr import LiveEvent, LiveResult, LiveSpeechStarted, LiveUtteranceEnd, Word

__all__ = ["event_message", "metadata_message", "warning_message"]

_CHANNEL = [0, 1]  # Deepgram's [channel index, channel count] of a mono stream
_EDGES = re.compile(r"^\W+|\W+$")


def _word(word: Word) -> dict[str, Any]:
    plain = _EDGES.sub("", word.text).lower() or word.text.lower()
    shaped: dict[str, Any] = {
        "word": plain,
        "start": round(word.start, 3),
        "end": round(word.end, 3),
        "confidence": round(word.probability, 4),
        "punctuated_word": word.text,
    }
    if word.speaker is not None:
        shaped["speaker"] = word.speaker
    return shaped


def _results(result: LiveResult, request_id: str, model: str) -> dict[str, Any]:
    return {
        "type": "Results",
        "channel_index": _CHANNEL,
        "start": round(result.start, 3),
        "duration": round(result.duration, 3),
        "is_final": result.is_final,
        "speech_final": result.speech_final,
        "from_finalize": result.from_finalize,
        "channel": {
            "alternatives": [
                {
                    "transcript": result.transcript,
                    "confidence": round(result.confidence, 4),
                    "words": [_word(word) for word in result.words],
                }
            ]
        },
        "metadata": {"request_id": request_id, "model_info": {"name": model}},
    }


def event_message(event: LiveEvent, *, request_id: str, model: str) -> dict[str, Any] | None:
    """The message for a backend's event; None for the backend's own ``Metadata`` (the
    session sends its own at the end)."""
    if isinstance(event, LiveResult):
        return _results(event, request_id, model)
    if isinstance(event, LiveUtteranceEnd):
        return {"type": "UtteranceEnd", "channel": _CHANNEL,
                "last_word_end": round(event.last_word_end, 3)}  # fmt: skip
    if isinstance(event, LiveSpeechStarted):
        return {"type": "SpeechStarted", "channel": _CHANNEL,
                "timestamp": round(event.timestamp, 3)}  # fmt: skip
    return None


def metadata_message(
    *, request_id: str, duration: float, channels: int, sha256: str, created: datetime
) -> dict[str, Any]:
    return {
        "type": "Metadata",
        "transaction_key": "deprecated",
        "request_id": request_id,
        "sha256": sha256,
        "created": created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "duration": round(duration, 3),
        "channels": channels,
    }


def warning_message(code: str, description: str) -> dict[str, Any]:
    return {"type": "Warning", "code": code, "description": description}
