"""Local AI models behind small interfaces, loaded on first use and run off the event loop:
speech to text (``v100.ai.asr``), voice activity (``v100.ai.vad``), who spoke when
(``v100.ai.diarization``, in an optional extra), text language (``v100.ai.langid``), text
embeddings (``v100.ai.embeddings``) and decoding any media to 16 kHz PCM (``v100.ai.audio``);
vendors' chat models behind one interface (``v100.ai.llm``); and a video's highlights ranked by
six named factors (``v100.ai.highlights``). Imports nothing heavy itself;
no service (import-linter), no download at run time (weights ship in packages)."""
