"""media_processor (:3013): chunk assembly, captions, language detection, loudness, transcode specs.
Its features arrive with issue 5 (Video pipeline); today it runs, migrates and reports health."""
