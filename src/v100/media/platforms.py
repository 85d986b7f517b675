"""What each publishing platform accepts for an uploaded video (``PLATFORM_SPECS``), the size we
render clips at for it, and ``check_against``, which lists what a probed file breaks.

Figures are the platforms' published upload requirements, read in November 2026:

- YouTube: "Recommended upload encoding settings" (support.google.com/youtube/answer/1722171:
  MP4, H.264 High, AAC-LC, 1080p at 8 Mbps for 24-30 fps, 12 Mbps for 48-60 fps, up to 8K) and
  "Upload videos longer than 15 minutes" (support.google.com/youtube/answer/71673: at most
  256 GB or 12 hours, whichever is less). YouTube accepts any aspect; 16:9 fills the player.
- YouTube Shorts: "Upload YouTube Shorts" (support.google.com/youtube/answer/12779649: a
  square or vertical video of up to 3 minutes, since 15 October 2024); rendered at 1080x1920
  with YouTube's 1080p30 figures above.
- TikTok: Content Posting API, "Media Transfer Guide", video restrictions
  (developers.tiktok.com/doc/content-posting-api-media-transfer-guide: MP4 (recommended), WebM
  or MOV; H.264 (recommended), H.265, VP8 or VP9; 23-60 fps; 360-4096 px per side; up to
  10 minutes through the API; at most 4 GB).
- Instagram Reels: Instagram Graph API, IG User Media, "Reel specifications"
  (developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media:
  MOV or MP4, no edit lists, moov atom first; HEVC or H.264, closed GOP, 4:2:0; AAC at most
  48 kHz, mono or stereo, 128 kbps; 23-60 fps; at most 1920 columns; aspect 0.01:1 to 10:1,
  9:16 recommended; VBR at most 25 Mbps; 3 s to 15 min; at most 1 GB).
- LinkedIn: "Video sharing on LinkedIn - troubleshooting and specifications"
  (linkedin.com/help/linkedin/answer/a548372: 75 KB to 5 GB; 3 s to 15 min from a desktop;
  256x144 to 4096x2304; aspect 1:2.4 to 2.4:1; 10-60 fps; 192 kbps to 30 Mbps).
- X: media upload best practices (developer.x.com/en/docs/x-api/v1/media/upload-media/
  uploading-media/media-best-practices: MP4 or MOV, H.264 High, AAC-LC mono or stereo; 0.5 s to
  140 s; at most 512 MB; at most 1280x1024; aspect 1:3 to 3:1; 1:1 pixels; 4:2:0; 60 fps or
  less; 1280x720 landscape or 720x1280 portrait recommended).
"""

from __future__ import annotations

from dataclasses import dataclass

from v100.media.probe import MediaInfo

__all__ = ["CLIP_SPECS", "PLATFORM_SPECS", "YOUTUBE_SHORTS", "PlatformSpec", "check_against"]

_GB = 1_000_000_000
_MB = 1_000_000


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    name: str
    # Accepted, by FFmpeg's names ("mp4" for an MP4 or MOV probe's "mov,mp4,...").
    containers: tuple[str, ...]
    video_codecs: tuple[str, ...]
    audio_codecs: tuple[str, ...]
    # What we render: the frame size (its aspect is the target aspect) and bitrates.
    width: int
    height: int
    video_bitrate: int
    audio_bitrate: int
    frame_rate_limit: int
    # What the platform accepts.
    max_long_side: int
    max_short_side: int
    min_side: int | None
    min_aspect: float | None  # width / height
    max_aspect: float | None
    min_frame_rate: float | None
    max_frame_rate: float
    max_video_bitrate: int | None  # None: the platform publishes no ceiling
    min_duration: float | None
    max_duration: float
    max_file_size: int
    audio_max_channels: int | None = 2
    audio_max_sample_rate: int | None = None

    @property
    def aspect(self) -> float:
        return self.width / self.height


PLATFORM_SPECS: dict[str, PlatformSpec] = {
    "youtube": PlatformSpec(
        name="youtube",
        containers=("mp4", "mov", "webm", "matroska"),
        video_codecs=("h264", "hevc", "vp9", "av1", "mpeg4"),
        audio_codecs=("aac", "opus", "mp3", "vorbis", "flac"),
        width=1920,
        height=1080,
        video_bitrate=8_000_000,
        audio_bitrate=384_000,
        frame_rate_limit=60,
        max_long_side=7680,
        max_short_side=4320,
        min_side=None,
        min_aspect=None,
        max_aspect=None,
        min_frame_rate=None,
        max_frame_rate=60,
        max_video_bitrate=None,
        min_duration=None,
        max_duration=12 * 3600,
        max_file_size=256 * _GB,
        audio_max_channels=6,
    ),
    "tiktok": PlatformSpec(
        name="tiktok",
        containers=("mp4", "mov", "webm"),
        video_codecs=("h264", "hevc", "vp8", "vp9"),
        audio_codecs=("aac", "opus", "vorbis", "mp3"),
        width=1080,
        height=1920,
        video_bitrate=6_000_000,
        audio_bitrate=128_000,
        frame_rate_limit=60,
        max_long_side=4096,
        max_short_side=4096,
        min_side=360,
        min_aspect=None,
        max_aspect=None,
        min_frame_rate=23,
        max_frame_rate=60,
        max_video_bitrate=None,
        min_duration=None,
        max_duration=600,
        max_file_size=4 * _GB,
    ),
    "instagram_reels": PlatformSpec(
        name="instagram_reels",
        containers=("mp4", "mov"),
        video_codecs=("h264", "hevc"),
        audio_codecs=("aac",),
        width=1080,
        height=1920,
        video_bitrate=8_000_000,
        audio_bitrate=128_000,
        frame_rate_limit=60,
        max_long_side=1920 * 10,  # only columns are limited (below, via max_short_side)
        max_short_side=1920,
        min_side=None,
        min_aspect=0.01,
        max_aspect=10.0,
        min_frame_rate=23,
        max_frame_rate=60,
        max_video_bitrate=25_000_000,
        min_duration=3,
        max_duration=15 * 60,
        max_file_size=1 * _GB,
        audio_max_sample_rate=48_000,
    ),
    "linkedin": PlatformSpec(
        name="linkedin",
        containers=("mp4", "mov", "webm", "matroska", "asf", "flv"),
        video_codecs=("h264", "hevc", "vp8", "vp9", "mpeg4"),
        audio_codecs=("aac", "mp3", "opus", "vorbis"),
        width=1920,
        height=1080,
        video_bitrate=8_000_000,
        audio_bitrate=192_000,
        frame_rate_limit=60,
        max_long_side=4096,
        max_short_side=2304,
        min_side=144,
        min_aspect=1 / 2.4,
        max_aspect=2.4,
        min_frame_rate=10,
        max_frame_rate=60,
        max_video_bitrate=30_000_000,
        min_duration=3,
        max_duration=15 * 60,
        max_file_size=5 * _GB,
    ),
    "x": PlatformSpec(
        name="x",
        containers=("mp4", "mov"),
        video_codecs=("h264",),
        audio_codecs=("aac",),
        width=1280,
        height=720,
        video_bitrate=5_000_000,
        audio_bitrate=128_000,
        frame_rate_limit=60,
        max_long_side=1280,
        max_short_side=1024,
        min_side=32,
        min_aspect=1 / 3,
        max_aspect=3.0,
        min_frame_rate=None,
        max_frame_rate=60,
        max_video_bitrate=None,
        min_duration=0.5,
        max_duration=140,
        max_file_size=512 * _MB,
    ),
}


def _container_names(info: MediaInfo) -> set[str]:
    names = set(info.container.split(","))
    if names & {"mov", "mp4", "m4a", "3gp"}:
        names |= {"mov", "mp4"}
    return names


def check_against(info: MediaInfo, spec: PlatformSpec) -> list[str]:
    """Everything about ``info`` that ``spec``'s platform would refuse; empty when it fits."""
    problems: list[str] = []
    if not _container_names(info) & set(spec.containers):
        problems.append(f"container {info.container} is not one of {', '.join(spec.containers)}")
    if info.duration > spec.max_duration:
        problems.append(f"duration {info.duration:.1f} s is over {spec.max_duration:g} s")
    if spec.min_duration is not None and info.duration < spec.min_duration:
        problems.append(f"duration {info.duration:.1f} s is under {spec.min_duration:g} s")
    if info.size > spec.max_file_size:
        problems.append(f"file size {info.size:,} bytes is over {spec.max_file_size:,} bytes")
    video = info.video
    if video is None:
        problems.append("there is no video stream")
    else:
        if video.codec not in spec.video_codecs:
            accepted = ", ".join(spec.video_codecs)
            problems.append(f"video codec {video.codec} is not one of {accepted}")
        w, h = video.display_width, video.display_height
        long_side, short_side = max(w, h), min(w, h)
        if long_side > spec.max_long_side or short_side > spec.max_short_side:
            problems.append(f"picture {w}x{h} is over {spec.max_long_side}x{spec.max_short_side}")
        if spec.min_side is not None and short_side < spec.min_side:
            problems.append(f"picture {w}x{h} has a side under {spec.min_side} px")
        aspect = w / h
        if spec.min_aspect is not None and aspect < spec.min_aspect * 0.99:
            problems.append(f"aspect {aspect:.3f} is narrower than {spec.min_aspect:.3f}")
        if spec.max_aspect is not None and aspect > spec.max_aspect * 1.01:
            problems.append(f"aspect {aspect:.3f} is wider than {spec.max_aspect:.3f}")
        if video.frame_rate > spec.max_frame_rate + 0.01:
            problems.append(f"frame rate {video.frame_rate:.2f} is over {spec.max_frame_rate:g}")
        if spec.min_frame_rate is not None and video.frame_rate < spec.min_frame_rate - 0.01:
            problems.append(f"frame rate {video.frame_rate:.2f} is under {spec.min_frame_rate:g}")
        bitrate = video.bit_rate or info.bit_rate
        if spec.max_video_bitrate is not None and bitrate and bitrate > spec.max_video_bitrate:
            problems.append(f"video bitrate {bitrate:,} bps is over {spec.max_video_bitrate:,}")
        if video.pixel_format not in (None, "yuv420p", "yuvj420p"):
            problems.append(f"pixel format {video.pixel_format} is not 4:2:0 (yuv420p)")
    audio = info.audio
    if audio is not None:
        if audio.codec not in spec.audio_codecs:
            accepted = ", ".join(spec.audio_codecs)
            problems.append(f"audio codec {audio.codec} is not one of {accepted}")
        if spec.audio_max_channels is not None and audio.channels > spec.audio_max_channels:
            problems.append(f"{audio.channels} audio channels; at most {spec.audio_max_channels}")
        if (
            spec.audio_max_sample_rate is not None
            and audio.sample_rate > spec.audio_max_sample_rate
        ):
            problems.append(
                f"audio sample rate {audio.sample_rate} Hz is over {spec.audio_max_sample_rate}"
            )
    return problems


# The platforms short clips are rendered for (``clip_render``): TikTok and Reels as above, and
# YouTube Shorts, square or vertical videos of up to 3 minutes under YouTube's upload rules.
# Shorts are not in PLATFORM_SPECS, whose entries any upload is checked against.
YOUTUBE_SHORTS = PlatformSpec(
    name="youtube_shorts",
    containers=("mp4", "mov", "webm", "matroska"),
    video_codecs=("h264", "hevc", "vp9", "av1", "mpeg4"),
    audio_codecs=("aac", "opus", "mp3", "vorbis", "flac"),
    width=1080,
    height=1920,
    video_bitrate=8_000_000,
    audio_bitrate=128_000,
    frame_rate_limit=60,
    max_long_side=7680,
    max_short_side=4320,
    min_side=None,
    min_aspect=None,
    max_aspect=1.0,  # square or vertical
    min_frame_rate=None,
    max_frame_rate=60,
    max_video_bitrate=None,
    min_duration=None,
    max_duration=180,
    max_file_size=256 * _GB,
    audio_max_channels=6,
)

CLIP_SPECS: dict[str, PlatformSpec] = {
    "tiktok": PLATFORM_SPECS["tiktok"],
    "instagram_reels": PLATFORM_SPECS["instagram_reels"],
    "youtube_shorts": YOUTUBE_SHORTS,
}
