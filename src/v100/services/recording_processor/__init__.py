"""recording_processor (:3012): meeting recordings: ingest, MP4 transcode, thumbnails, downloads.
Ingest streams into object storage; processing runs as durable jobs (docs/recordings.md)."""
