"""Speech to text: the ``Transcriber`` interface and its ``Transcript``, the local Whisper
backend (``LocalWhisper``) and Deepgram's (``DeepgramTranscriber``); live streams behind one
``LiveSession`` interface: ``LocalLiveSession`` (the local streaming engine) and
``DeepgramLiveSession``. Heavy imports (faster-whisper, CTranslate2) happen on first use of a
model, not on import. ``to_document`` turns any backend's ``Transcript`` into the platform's
transcript document, its words grouped into utterances and paragraphs."""

from v100.ai.asr._deepgram import (
    DEEPGRAM_API_URL,
    DeepgramAuthError,
    DeepgramBadRequest,
    DeepgramError,
    DeepgramOptions,
    DeepgramPaymentRequired,
    DeepgramRateLimited,
    DeepgramStreamClosed,
    DeepgramTranscriber,
    DeepgramUnavailable,
    pcm_to_wav,
)
from v100.ai.asr._deepgram_live import DEEPGRAM_LIVE_URL, DeepgramLiveSession
from v100.ai.asr._document import to_document
from v100.ai.asr._live import (
    LiveEvent,
    LiveMetadata,
    LiveResult,
    LiveSession,
    LiveSpeechStarted,
    LiveUtteranceEnd,
)
from v100.ai.asr._streaming import (
    FINAL_OPTIONS,
    INTERIM_OPTIONS,
    LocalLiveSession,
    StreamingOptions,
)
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
    "DEEPGRAM_API_URL",
    "DEEPGRAM_LIVE_URL",
    "FINAL_OPTIONS",
    "INTERIM_OPTIONS",
    "AudioSource",
    "DeepgramAuthError",
    "DeepgramBadRequest",
    "DeepgramError",
    "DeepgramLiveSession",
    "DeepgramOptions",
    "DeepgramPaymentRequired",
    "DeepgramRateLimited",
    "DeepgramStreamClosed",
    "DeepgramTranscriber",
    "DeepgramUnavailable",
    "LanguageDetection",
    "LiveEvent",
    "LiveMetadata",
    "LiveResult",
    "LiveSession",
    "LiveSpeechStarted",
    "LiveUtteranceEnd",
    "LocalLiveSession",
    "LocalWhisper",
    "ModelFilesMissing",
    "StreamingOptions",
    "Transcriber",
    "Transcript",
    "TranscriptSegment",
    "Word",
    "default_model_cache",
    "locate_whisper_base",
    "pcm_to_wav",
    "to_document",
    "whisper_base_dir",
]
