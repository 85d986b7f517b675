"""media_processor (:3013): platform output specs, media jobs (transcode to a platform spec,
loudness normalization, resampling, audio extraction, thumbnails) and chunk assembly.
Captions and language detection (``/v1/captions``) come with the transcription issue."""
