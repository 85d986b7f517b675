"""What a diarization returns, whatever the diarizer: who spoke when, as turns of one speaker
each, speakers numbered 0, 1, ... in the order they first speak; and the ``Diarizer``
interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from v100.ai.audio import PcmSource

__all__ = ["Diarization", "Diarizer", "SpeakerTurn"]


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    start: float  # seconds from the start of the audio
    end: float
    speaker: int


@dataclass(frozen=True, slots=True)
class Diarization:
    # In time order, never overlapping; none when no speech was heard.
    turns: tuple[SpeakerTurn, ...]
    duration: float  # seconds of audio given

    @property
    def speakers(self) -> int:
        """How many speakers were found (0 for silence)."""
        return len({turn.speaker for turn in self.turns})


@runtime_checkable
class Diarizer(Protocol):
    """Finds who spoke when in 16 kHz mono PCM without being told how many speakers there are.
    ``diarize`` blocks (CPU); ``diarize_async`` runs it without holding up the event loop."""

    name: str

    def diarize(self, pcm: PcmSource) -> Diarization: ...

    async def diarize_async(self, pcm: PcmSource) -> Diarization: ...
