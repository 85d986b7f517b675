"""video_analysis (:3020): analyses of stored videos as durable jobs: scenes, keyframes, face
tracks and the active speaker, speech segments, loudness/energy/motion curves, transcripts."""
