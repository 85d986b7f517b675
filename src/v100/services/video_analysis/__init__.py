"""video_analysis (:3020): video analyses: scenes, faces, speech segments, keyframes and scores.
Its features arrive with a later issue; today it runs, migrates and reports health."""
