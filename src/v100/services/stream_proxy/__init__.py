"""stream_proxy (:3016): HLS delivery, avatar session proxying and media routes.
Its features arrive with a later issue; today it runs, migrates and reports health."""
