"""transcription (:3003): transcripts and live streaming transcription sessions.
Its features arrive with a later issue; today it runs, migrates and reports health."""
