"""The FFmpeg-backed media library: choosing FFmpeg and checking it can run our operations
(``ffmpeg_path``, ``require_ffmpeg``), running it safely (``run_ffmpeg``, ``input_args``),
probing files (``probe``), and the operations services compose into jobs (captions:
``captions``, ``burn_in``).
Heavy imports (PyAV) happen on first use."""

from v100.media._encoding import DEFAULT_MAX_PIXELS, check_picture
from v100.media._errors import (
    CorruptMedia,
    EmptyMedia,
    FFmpegFailed,
    FFmpegTimedOut,
    FFmpegUnusable,
    MediaError,
    MediaErrorCodes,
    MediaTooLarge,
    UnsupportedMedia,
    is_permanent,
)
from v100.media._ffmpeg import (
    INPUT_DEMUXERS,
    Progress,
    ProgressCallback,
    bundled_ffmpeg,
    ffmpeg_path,
    input_args,
    run_ffmpeg,
)
from v100.media._requirements import (
    MIN_FFMPEG_VERSION,
    FFmpegBuild,
    check_ffmpeg,
    inspect_ffmpeg,
    require_ffmpeg,
)
from v100.media.burn_in import CaptionStyle, burn_captions
from v100.media.captions import CaptionLimits, Cue, build_cues
from v100.media.clips import Clip, cut_clip
from v100.media.hls import (
    DEFAULT_LADDER,
    HlsOutput,
    HlsRendition,
    Rung,
    encode_hls,
    hls_args,
    plan_ladder,
)
from v100.media.loudness import Loudness, measure_loudness, normalize_loudness
from v100.media.mp4 import encode_mp4, extract_audio, mp4_args
from v100.media.platforms import PLATFORM_SPECS, PlatformSpec, check_against
from v100.media.probe import AudioStreamInfo, MediaInfo, VideoStreamInfo, probe, probe_sync
from v100.media.thumbnails import Storyboard, poster, poster_time, storyboard
from v100.media.trim import TrimRange, detect_trim

__all__ = [
    "DEFAULT_LADDER",
    "DEFAULT_MAX_PIXELS",
    "INPUT_DEMUXERS",
    "MIN_FFMPEG_VERSION",
    "PLATFORM_SPECS",
    "AudioStreamInfo",
    "CaptionLimits",
    "CaptionStyle",
    "Clip",
    "CorruptMedia",
    "Cue",
    "EmptyMedia",
    "FFmpegBuild",
    "FFmpegFailed",
    "FFmpegTimedOut",
    "FFmpegUnusable",
    "HlsOutput",
    "HlsRendition",
    "Loudness",
    "MediaError",
    "MediaErrorCodes",
    "MediaInfo",
    "MediaTooLarge",
    "PlatformSpec",
    "Progress",
    "ProgressCallback",
    "Rung",
    "Storyboard",
    "TrimRange",
    "UnsupportedMedia",
    "VideoStreamInfo",
    "build_cues",
    "bundled_ffmpeg",
    "burn_captions",
    "check_against",
    "check_ffmpeg",
    "check_picture",
    "cut_clip",
    "detect_trim",
    "encode_hls",
    "encode_mp4",
    "extract_audio",
    "ffmpeg_path",
    "hls_args",
    "input_args",
    "inspect_ffmpeg",
    "is_permanent",
    "measure_loudness",
    "mp4_args",
    "normalize_loudness",
    "plan_ladder",
    "poster",
    "poster_time",
    "probe",
    "probe_sync",
    "require_ffmpeg",
    "run_ffmpeg",
    "storyboard",
]
