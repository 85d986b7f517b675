"""video_processing (:3002): uploads, projects, videos, highlights, clips and exports.
Its features arrive with issue 5 (Video pipeline); today it runs, migrates and reports health."""
