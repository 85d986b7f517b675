"""Speaker diarization: who spoke when. The ``Diarizer`` interface and its ``Diarization``
(speaker turns), the local diarizer on resemblyzer's voice encoder (``LocalDiarizer``, in the
optional ``diarization`` extra: ``diarization_available()``), and ``label_speakers``, which
puts the speakers on a transcript's words and segments. torch and resemblyzer are imported on
first use of the local diarizer, never on import."""

from v100.ai.diarization._local import DiarizationSettings, LocalDiarizer, diarization_available
from v100.ai.diarization._types import Diarization, Diarizer, SpeakerTurn
from v100.ai.diarization._words import label_speakers

__all__ = [
    "Diarization",
    "DiarizationSettings",
    "Diarizer",
    "LocalDiarizer",
    "SpeakerTurn",
    "diarization_available",
    "label_speakers",
]
