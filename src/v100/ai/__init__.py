"""Local AI models behind small interfaces, loaded on first use and run off the event loop:
speech to text (``v100.ai.asr``), voice activity (``v100.ai.vad``), text language
(``v100.ai.langid``) and decoding any media to 16 kHz PCM (``v100.ai.audio``). Imports nothing
heavy itself; no service (import-linter), no download at run time (weights ship in packages)."""
