"""stream_proxy (:3016): HLS delivery of processed videos under signed playback URLs, and media
routes: health-checked backends (avatar session media, live HLS) proxied under signed URLs."""
