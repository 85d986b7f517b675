"""recording_processor (:3012): meeting recordings: ingest, MP4 transcode, thumbnails, downloads.
Its features arrive with issue 5 (Video pipeline); today it runs, migrates and reports health."""
