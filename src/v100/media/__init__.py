"""The FFmpeg-backed media library: finding and running FFmpeg safely (``run_ffmpeg``,
``input_args``), probing files (``probe``), and the operations services compose into jobs.
Heavy imports (PyAV) happen on first use."""

from v100.media._errors import (
    CorruptMedia,
    EmptyMedia,
    FFmpegFailed,
    FFmpegTimedOut,
    MediaError,
    UnsupportedMedia,
)
from v100.media._ffmpeg import (
    INPUT_DEMUXERS,
    Progress,
    ProgressCallback,
    ffmpeg_path,
    input_args,
    run_ffmpeg,
)
from v100.media.probe import AudioStreamInfo, MediaInfo, VideoStreamInfo, probe, probe_sync

__all__ = [
    "INPUT_DEMUXERS",
    "AudioStreamInfo",
    "CorruptMedia",
    "EmptyMedia",
    "FFmpegFailed",
    "FFmpegTimedOut",
    "MediaError",
    "MediaInfo",
    "Progress",
    "ProgressCallback",
    "UnsupportedMedia",
    "VideoStreamInfo",
    "ffmpeg_path",
    "input_args",
    "probe",
    "probe_sync",
    "run_ffmpeg",
]
