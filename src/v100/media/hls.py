"""Adaptive streaming: ``plan_ladder`` picks the rungs a source deserves (never upscaled, the
source's own size on top when it falls between rungs) and ``encode_hls`` encodes all of them in
one FFmpeg run that decodes the source once (split + scale), with keyframes aligned across rungs,
into fMP4 HLS with a master playlist and one shared AAC audio rendition."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from v100.media._encoding import (
    DEFAULT_MAX_PIXELS,
    audio_args,
    even,
    frame_rate,
    keyframe_interval,
    rate_value,
    require_video,
    run_timeout,
)
from v100.media._errors import CorruptMedia
from v100.media._ffmpeg import ProgressCallback, input_args, run_ffmpeg
from v100.media.probe import MediaInfo

__all__ = [
    "DEFAULT_LADDER",
    "HlsOutput",
    "HlsRendition",
    "Rung",
    "encode_hls",
    "hls_args",
    "plan_ladder",
]

MASTER_PLAYLIST = "master.m3u8"
AUDIO_NAME = "audio"
# FFmpeg names an agroup "group_<agroup>".
_AUDIO_GROUP = f"group_{AUDIO_NAME}"


@dataclass(frozen=True, slots=True)
class Rung:
    # "720p": the short side, so a portrait 720x1280 rung is "720p" too.
    name: str
    width: int
    height: int
    video_bitrate: int
    max_rate: int
    buffer_size: int
    audio_bitrate: int

    @property
    def short_side(self) -> int:
        return min(self.width, self.height)

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _rung(short_side: int, width: int, height: int, kbps: int, audio_kbps: int) -> Rung:
    bitrate = kbps * 1000
    return Rung(
        name=f"{short_side}p",
        width=width,
        height=height,
        video_bitrate=bitrate,
        max_rate=bitrate * 3 // 2,
        buffer_size=bitrate * 2,
        audio_bitrate=audio_kbps * 1000,
    )


# H.264 at 16:9, bitrates near Apple's HLS authoring specification for the same sizes.
DEFAULT_LADDER: tuple[Rung, ...] = (
    _rung(2160, 3840, 2160, 14_000, 160),
    _rung(1440, 2560, 1440, 8_000, 160),
    _rung(1080, 1920, 1080, 5_000, 128),
    _rung(720, 1280, 720, 2_800, 128),
    _rung(480, 854, 480, 1_400, 128),
    _rung(360, 640, 360, 800, 96),
    _rung(240, 426, 240, 400, 64),
)
# A source this close above a ladder rung replaces that rung instead of sitting next to it.
_CLOSE = 0.15


def plan_ladder(info: MediaInfo, *, rungs: Sequence[Rung] = DEFAULT_LADDER) -> list[Rung]:
    """The rungs for ``info``'s picture, largest first. Every ladder rung whose short side is
    at most the source's is kept, at the source's display aspect (after rotation); a source
    between rungs adds its own size on top (dropping a rung within 15% below it). A source
    smaller than every rung gets one rung at its own size. Nothing is ever upscaled."""
    video = require_video(info, max_pixels=2**62)
    width, height = video.display_width, video.display_height
    source_short = min(width, height)
    templates = sorted(rungs, key=lambda r: r.short_side, reverse=True)
    kept = [t for t in templates if t.short_side <= source_short]
    sides = [t.short_side for t in kept]
    if not kept or kept[0].short_side != source_short:
        sides = [s for s in sides if s < source_short * (1 - _CLOSE)]
        sides.insert(0, source_short)
    planned = []
    for side in sides:
        w, h = _size(width, height, side)
        template = next((t for t in kept if t.short_side == side), None)
        if template is None:
            template = _interpolated(templates, w * h)
        ratio = (w * h) / template.pixels
        scale = ratio**0.75 if ratio != 1 else 1.0
        planned.append(
            Rung(
                name=f"{min(w, h)}p",
                width=w,
                height=h,
                video_bitrate=_round_kbps(template.video_bitrate * scale),
                max_rate=_round_kbps(template.max_rate * scale),
                buffer_size=_round_kbps(template.buffer_size * scale),
                audio_bitrate=template.audio_bitrate,
            )
        )
    return planned


def _size(width: int, height: int, short_side: int) -> tuple[int, int]:
    if width >= height:
        w, h = even(short_side * width / height), even(short_side)
    else:
        w, h = even(short_side), even(short_side * height / width)
    # Even rounding must not step above the source.
    return min(w, width - width % 2 or 2), min(h, height - height % 2 or 2)


def _interpolated(templates: Sequence[Rung], pixels: int) -> Rung:
    """The template just below ``pixels`` (or the smallest one), for scaling bitrates from."""
    below = [t for t in templates if t.pixels <= pixels]
    return max(below, key=lambda t: t.pixels) if below else min(templates, key=lambda t: t.pixels)


def _round_kbps(bits: float) -> int:
    return max(1000, round(bits / 1000) * 1000)


@dataclass(frozen=True, slots=True)
class HlsRendition:
    name: str
    playlist: Path
    init_segment: Path
    segments: list[Path]
    # Sum of the playlist's EXTINF durations.
    duration: float
    rung: Rung | None = None
    # Measured from the segments, bits per second.
    peak_bitrate: int = 0
    average_bitrate: int = 0


@dataclass(frozen=True, slots=True)
class HlsOutput:
    master_playlist: Path
    variants: list[HlsRendition]
    audio: HlsRendition | None
    segment_seconds: float
    files: list[Path] = field(default_factory=list)


def hls_args(
    src: str | Path,
    out_dir: str | Path,
    info: MediaInfo,
    ladder: Sequence[Rung],
    *,
    segment_seconds: float = 4,
    preset: str = "veryfast",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[str]:
    """The FFmpeg arguments ``encode_hls`` runs (after the runner's own flags): one input, one
    decode, ``split`` into a ``scale`` per rung, every rung encoded once, keyframes every
    ``segment_seconds`` on all rungs (fixed GOP, no scene-cut keyframes)."""
    video = require_video(info, max_pixels=max_pixels)
    if not ladder:
        raise ValueError("the ladder has no rung")
    for rung in ladder:
        if rung.width > video.display_width or rung.height > video.display_height:
            raise ValueError(f"rung {rung.name} ({rung.width}x{rung.height}) upscales the source")
    out = Path(out_dir)
    rate = frame_rate(video)
    gop = keyframe_interval(rate, segment_seconds)
    labels = [f"[s{i}]" for i in range(len(ladder))]
    graph = [f"[0:v:0]fps={rate},setsar=1,split={len(ladder)}{''.join(labels)}"]
    for i, rung in enumerate(ladder):
        graph.append(f"[s{i}]scale={rung.width}:{rung.height},setsar=1,format=yuv420p[v{i}]")
    args = [*input_args(src), "-filter_complex", ";".join(graph)]
    for i in range(len(ladder)):
        args += ["-map", f"[v{i}]"]
    args += ["-c:v", "libx264", "-preset", preset, "-profile:v", "high"]
    args += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    args += ["-force_key_frames", f"expr:gte(t,n_forced*{segment_seconds:g})"]
    for i, rung in enumerate(ladder):
        args += [f"-b:v:{i}", str(rung.video_bitrate)]
        args += [f"-maxrate:v:{i}", str(rung.max_rate), f"-bufsize:v:{i}", str(rung.buffer_size)]
    stream_map = []
    if info.audio is not None:
        args += ["-map", "0:a:0", *audio_args(info, bitrate=max(r.audio_bitrate for r in ladder))]
        stream_map = [f"v:{i},agroup:{AUDIO_NAME},name:{r.name}" for i, r in enumerate(ladder)]
        stream_map.append(f"a:0,agroup:{AUDIO_NAME},name:{AUDIO_NAME},default:yes")
    else:
        stream_map = [f"v:{i},name:{r.name}" for i, r in enumerate(ladder)]
    args += ["-map_metadata", "-1", "-map_chapters", "-1"]
    args += [
        "-f",
        "hls",
        "-hls_time",
        f"{segment_seconds:g}",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_type",
        "fmp4",
        "-hls_flags",
        "independent_segments",
        "-hls_fmp4_init_filename",
        "init.mp4",
        "-hls_segment_filename",
        str(out / "%v" / "seg_%05d.m4s"),
        "-master_pl_name",
        MASTER_PLAYLIST,
        "-var_stream_map",
        " ".join(stream_map),
        str(out / "%v" / "index.m3u8"),
    ]
    return args


async def encode_hls(
    src: str | Path,
    out_dir: str | Path,
    info: MediaInfo,
    ladder: Sequence[Rung],
    *,
    segment_seconds: float = 4,
    on_progress: ProgressCallback | None = None,
    preset: str = "veryfast",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout: float | None = None,  # noqa: ASYNC109 - bounded FFmpeg run, FFmpegTimedOut
) -> HlsOutput:
    """Encode ``ladder`` into ``out_dir``: ``master.m3u8``, ``<rung>/index.m3u8``,
    ``<rung>/init_<n>.mp4``, ``<rung>/seg_00000.m4s``..., and ``audio/`` for the shared audio
    rendition. Every URI in the playlists is relative, so the directory can be uploaded as is."""
    out = Path(out_dir)
    args = hls_args(
        src,
        out,
        info,
        ladder,
        segment_seconds=segment_seconds,
        preset=preset,
        max_pixels=max_pixels,
    )
    pixels = sum(r.pixels for r in ladder) / (1280 * 720)
    await run_ffmpeg(
        args,
        duration=info.duration,
        on_progress=on_progress,
        timeout=timeout
        if timeout is not None
        else run_timeout(info.duration, per_second=10 + 10 * pixels),
    )
    return _collect(out, info, ladder, segment_seconds)


def _collect(
    out: Path, info: MediaInfo, ladder: Sequence[Rung], segment_seconds: float
) -> HlsOutput:
    master = out / MASTER_PLAYLIST
    if not master.exists():
        raise CorruptMedia("FFmpeg wrote no master playlist")
    variants = [_rendition(out / rung.name, rung.name, info, rung) for rung in ladder]
    audio = None
    if info.audio is not None:
        audio = _rendition(out / AUDIO_NAME, AUDIO_NAME, info, None)
    _write_master(master, info, variants, audio)
    files = [master]
    for rendition in [*variants, *([audio] if audio else [])]:
        files += [rendition.playlist, rendition.init_segment, *rendition.segments]
    return HlsOutput(
        master_playlist=master,
        variants=variants,
        audio=audio,
        segment_seconds=segment_seconds,
        files=files,
    )


_EXTINF = re.compile(r"^#EXTINF:([0-9.]+)", re.MULTILINE)
_MAP = re.compile(r'^#EXT-X-MAP:URI="([^"]+)"', re.MULTILINE)
_CODECS = re.compile(r'CODECS="([^"]+)"')
_MEDIA_NAME = re.compile(r'NAME="[^"]*"')


def _rendition(directory: Path, name: str, info: MediaInfo, rung: Rung | None) -> HlsRendition:
    playlist = directory / "index.m3u8"
    if not playlist.exists():
        raise CorruptMedia(f"FFmpeg wrote no playlist for {name}")
    text = playlist.read_text(encoding="utf-8")
    init = _MAP.search(text)
    segments = [directory / line for line in text.splitlines() if line and line[0] != "#"]
    durations = [float(d) for d in _EXTINF.findall(text)]
    duration = sum(durations)
    if init is None or not segments or duration < info.duration * 0.9 - 0.5:
        raise CorruptMedia(
            f"the file ends early: the {name} rendition is {duration:.1f} s of the "
            f"{info.duration:.1f} s the source declares (truncated upload?)"
        )
    rates = [s.stat().st_size * 8 / d for s, d in zip(segments, durations, strict=True) if d > 0]
    total = sum(s.stat().st_size for s in segments) * 8
    return HlsRendition(
        name=name,
        playlist=playlist,
        init_segment=directory / init[1],
        segments=segments,
        duration=duration,
        rung=rung,
        peak_bitrate=round(max(rates)),
        average_bitrate=round(total / duration),
    )


def _write_master(
    master: Path, info: MediaInfo, variants: list[HlsRendition], audio: HlsRendition | None
) -> None:
    """Rewrite FFmpeg's master playlist with BANDWIDTH measured from the segments written,
    audio included (RFC 8216 4.3.4.2: the peak of any playable combination of renditions;
    FFmpeg counts the video alone), and FRAME-RATE."""
    text = master.read_text(encoding="utf-8")
    lines = text.splitlines()
    codecs: dict[str, str] = {}
    media: list[str] = []
    for index, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF") and index + 1 < len(lines):
            found = _CODECS.search(line)
            if found:
                codecs[lines[index + 1].strip()] = found[1]
        elif line.startswith("#EXT-X-MEDIA:"):
            media.append(_MEDIA_NAME.sub(f'NAME="{AUDIO_NAME}"', line))
    assert info.video is not None
    rate = rate_value(frame_rate(info.video))
    out = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS", *media]
    for variant in variants:
        assert variant.rung is not None
        uri = f"{variant.name}/{variant.playlist.name}"
        peak = variant.peak_bitrate + (audio.peak_bitrate if audio else 0)
        average = variant.average_bitrate + (audio.average_bitrate if audio else 0)
        attributes = [
            f"BANDWIDTH={peak}",
            f"AVERAGE-BANDWIDTH={average}",
            f"RESOLUTION={variant.rung.width}x{variant.rung.height}",
            f"FRAME-RATE={rate:.3f}",
        ]
        if uri in codecs:
            attributes.append(f'CODECS="{codecs[uri]}"')
        if audio is not None:
            attributes.append(f'AUDIO="{_AUDIO_GROUP}"')
        out += [f"#EXT-X-STREAM-INF:{','.join(attributes)}", uri]
    master.write_text("\n".join(out) + "\n", encoding="utf-8")
