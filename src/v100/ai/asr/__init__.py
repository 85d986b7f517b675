"""Speech to text: the ``Transcriber`` interface and its ``Transcript``, and the local
Whisper backend (``LocalWhisper``). Heavy imports (faster-whisper, CTranslate2) happen on
first use of a model, not on import."""

from v100.ai.asr._transcript import AudioSource, Transcriber, Transcript, TranscriptSegment, Word
from v100.ai.asr._weights import ModelFilesMissing, locate_whisper_base, whisper_base_dir
from v100.ai.asr._whisper import (
    DECODE_OPTIONS,
    LanguageDetection,
    LocalWhisper,
    default_model_cache,
)

__all__ = [
    "DECODE_OPTIONS",
    "AudioSource",
    "LanguageDetection",
    "LocalWhisper",
    "ModelFilesMissing",
    "Transcriber",
    "Transcript",
    "TranscriptSegment",
    "Word",
    "default_model_cache",
    "locate_whisper_base",
    "whisper_base_dir",
]
