"""transcription (:3003): transcripts of audio and video files, uploaded or at a URL, with word
timestamps and the detected language (local Whisper by default); live sessions come later."""
