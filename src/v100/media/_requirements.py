"""Which FFmpeg can run our operations. ``inspect_ffmpeg`` reads what a binary has from its own
listings (version, filters, encoders, muxers, demuxers, protocols, and every option it knows);
``check_ffmpeg`` holds that against ``REQUIRED``, what this package passes to FFmpeg, once per
process, and raises ``FFmpegUnusable`` naming everything missing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from v100.media._errors import FFmpegUnusable
from v100.media._ffmpeg import INPUT_DEMUXERS, bundled_ffmpeg, ffmpeg_path

__all__ = [
    "MIN_FFMPEG_VERSION",
    "REQUIRED",
    "FFmpegBuild",
    "Requirements",
    "check_ffmpeg",
    "inspect_ffmpeg",
    "missing_from",
    "require_ffmpeg",
]

# The oldest release shown to pass the media suite (Debian 12's; the bundled one is 9.0), and the
# one whose ffmpeg still calls -vsync "deprecated, use -fps_mode" (every encode passes
# -fps_mode). A development build names no release: its libavcodec decides (5.1's). ADR 0025.
MIN_FFMPEG_VERSION = (5, 1)
_MIN_LIBAVCODEC = (59, 37)
_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Requirements:
    # ffmpeg's own command-line options (a boolean such as -nostats is listed as "stats").
    options: tuple[str, ...]
    # Options of every input and output (AVFormatContext) and of every encoder (AVCodecContext).
    format_options: tuple[str, ...]
    codec_options: tuple[str, ...]
    # Component -> the named options we set on it.
    filters: Mapping[str, tuple[str, ...]]
    encoders: Mapping[str, tuple[str, ...]]
    muxers: Mapping[str, tuple[str, ...]]
    demuxers: tuple[str, ...]
    protocols: tuple[str, ...]


_MOV = ("movflags",)
_POSITIONAL_ONLY = ("fps", "pad", "crop", "setsar", "format", "split", "select", "tile")
# Smart-cropped clips (clip_render, _crop_graph): positional arguments only.
_CLIP_FILTERS = ("setpts", "vstack", "boxblur", "overlay")
REQUIRED = Requirements(
    options=(
        # _ffmpeg.run_ffmpeg
        *("hide_banner", "stdin", "y", "loglevel", "stats", "progress"),
        # every operation
        *("map", "f", "c", "af", "vf", "filter_complex", "map_metadata", "map_chapters"),
        *("vn", "an", "sn", "dn", "ss", "t", "ar", "ac", "b", "pix_fmt"),
        # mp4, hls, thumbnails
        *("fps_mode", "force_key_frames", "frames", "q", "profile"),
    ),
    format_options=("protocol_whitelist", "format_whitelist", "avoid_negative_ts"),
    # Encoders' options.
    codec_options=("b", "maxrate", "bufsize", "g", "keyint_min", "flags"),
    filters=MappingProxyType(
        {
            "loudnorm": (
                *("I", "TP", "LRA", "print_format", "linear", "offset"),
                *("measured_I", "measured_TP", "measured_LRA", "measured_thresh"),
            ),
            "aresample": ("async", "first_pts"),
            "silencedetect": ("n", "d"),
            "blackdetect": ("d", "pix_th"),
            "scale": ("force_original_aspect_ratio", "force_divisible_by", "flags"),
            "trim": ("start_frame", "end_frame"),
            # Given positional arguments only (sizes, expressions, rates).
            **dict.fromkeys(_POSITIONAL_ONLY, ()),
            **dict.fromkeys(_CLIP_FILTERS, ()),
            "concat": ("n", "v", "a"),
            # Burnt-in captions (libass).
            "subtitles": ("filename", "force_style"),
        }
    ),
    encoders=MappingProxyType(
        {
            "libx264": ("preset", "profile", "crf", "sc_threshold"),
            **dict.fromkeys(("aac", "libopus", "libmp3lame", "flac", "pcm_s16le"), ()),
            "mjpeg": (),  # posters and storyboards (.jpg)
        }
    ),
    muxers=MappingProxyType(
        {
            "mp4": _MOV,
            "mov": _MOV,
            "ipod": _MOV,  # .m4a
            "hls": (
                *("hls_time", "hls_playlist_type", "hls_segment_type", "hls_flags"),
                *("hls_fmp4_init_filename", "hls_segment_filename"),
                *("master_pl_name", "var_stream_map"),
            ),
            "image2": ("update", "start_number"),
            **dict.fromkeys(("null", "wav", "flac", "opus", "ogg", "webm", "mp3"), ()),
        }
    ),
    demuxers=tuple(INPUT_DEMUXERS.split(",")),
    protocols=("file", "pipe"),
)
# Filters whose options belong to a library context listed under its own name.
_CHILD_CLASSES = {"aresample": ("SWResampler",), "scale": ("SWScaler",)}


@dataclass(frozen=True, slots=True)
class FFmpegBuild:
    path: str
    # As the binary prints it: "5.1.9-0+deb12u1", "n9.0.2-17-g2a571b6068-20260930".
    version: str
    # (major, minor) of the release, None for a development build ("N-113000-g...").
    release: tuple[int, int] | None
    libavcodec: tuple[int, int] | None
    filters: frozenset[str]
    encoders: frozenset[str]
    muxers: frozenset[str]
    demuxers: frozenset[str]
    protocols: frozenset[str]
    # ffmpeg's command-line options, and the AVOptions of each class by (kind, name): kind is
    # "muxer", "demuxer", "encoder", "decoder" or "" (filters, libx264, AVFormatContext, ...).
    options: frozenset[str]
    classes: Mapping[tuple[str, str], frozenset[str]]

    def class_options(self, *names: str, kind: str = "") -> frozenset[str]:
        found: set[str] = set()
        for name in names:
            found |= self.classes.get((kind, name), frozenset())
        return frozenset(found)


_LISTINGS: dict[str, tuple[str, ...]] = {
    "version": ("-version",),
    "filters": ("-filters",),
    "encoders": ("-encoders",),
    "muxers": ("-muxers",),
    "demuxers": ("-demuxers",),
    "protocols": ("-protocols",),
    "help": ("-h", "full"),
}
_lock = threading.Lock()
_builds: dict[str, FFmpegBuild] = {}


def inspect_ffmpeg(path: str | None = None) -> FFmpegBuild:
    """What the binary at ``path`` (default: ``ffmpeg_path()``) has, read once per process from
    seven listings run side by side (about 0.1 s). ``FFmpegUnusable`` when it cannot be run or
    is not FFmpeg."""
    path = path or ffmpeg_path()
    with _lock:
        if path not in _builds:
            _builds[path] = _parse(path, _run_listings(path))
        return _builds[path]


def missing_from(build: FFmpegBuild, required: Requirements = REQUIRED) -> list[str]:
    """Everything in ``required`` that ``build`` lacks, one short phrase each."""
    missing: list[str] = []
    if build.release is not None:
        if build.release < MIN_FFMPEG_VERSION:
            least = _dotted(MIN_FFMPEG_VERSION)
            missing.append(f"version {_dotted(build.release)} (at least {least})")
    elif build.libavcodec is None or build.libavcodec < _MIN_LIBAVCODEC:
        got = _dotted(build.libavcodec) if build.libavcodec else "unknown"
        missing.append(f"libavcodec {got} (at least {_dotted(_MIN_LIBAVCODEC)}, FFmpeg 5.1)")
    missing += [f"option -{name}" for name in required.options if name not in build.options]
    contexts = (
        ("AVFormatContext", required.format_options, "input/output option"),
        ("AVCodecContext", required.codec_options, "codec option"),
    )
    for context, names, what in contexts:
        known = build.class_options(context)
        missing += [f"{what} -{name}" for name in names if name not in known]
    for name, options in required.filters.items():
        known = build.class_options(name, *_CHILD_CLASSES.get(name, ()))
        missing += _component("filter", name, options, name in build.filters, known)
    for name, options in required.encoders.items():
        known = build.class_options(name, "AVCodecContext")
        known |= build.class_options(name, kind="encoder")
        missing += _component("encoder", name, options, name in build.encoders, known)
    for name, options in required.muxers.items():
        known = build.class_options("AVFormatContext") | build.class_options(name, kind="muxer")
        missing += _component("muxer", name, options, name in build.muxers, known)
    missing += [f"demuxer {name}" for name in required.demuxers if name not in build.demuxers]
    missing += [f"protocol {name}" for name in required.protocols if name not in build.protocols]
    return missing


def check_ffmpeg(path: str | None = None) -> FFmpegBuild:
    """The build at ``path`` (default: ``ffmpeg_path()``) if it has everything our operations
    pass to FFmpeg, else ``FFmpegUnusable`` naming each missing piece. Blocking (it runs the
    binary the first time): services call ``require_ffmpeg`` at start instead."""
    chosen = path or ffmpeg_path()
    build = inspect_ffmpeg(chosen)
    missing = missing_from(build)
    if missing:
        raise FFmpegUnusable(
            f"{_origin(chosen)} is FFmpeg {build.version}, which cannot run V100's media "
            f"operations. Missing: {'; '.join(missing)}. {_advice(chosen)}",
            path=chosen,
            missing=missing,
        )
    return build


async def require_ffmpeg() -> None:
    """``check_ffmpeg`` off the event loop, for a service's jobs (``JobRegistry(...,
    requires=[require_ffmpeg])``): a process that cannot run them stops at start with the
    reason, instead of failing its jobs later."""
    await asyncio.to_thread(check_ffmpeg)


def _component(
    kind: str, name: str, options: tuple[str, ...], present: bool, known: frozenset[str]
) -> list[str]:
    if not present:
        return [f"{kind} {name}"]
    return [f"{name} option {option}" for option in options if option not in known]


def _configured(path: str) -> bool:
    """Whether ``path`` is the binary ``V100_FFMPEG`` chose (so the advice can name it)."""
    if not os.environ.get("V100_FFMPEG", "").strip():
        return False
    try:
        return path == ffmpeg_path()
    except FFmpegUnusable:
        return False


def _origin(path: str) -> str:
    if _configured(path):
        return f"V100_FFMPEG ({path})"
    with contextlib.suppress(FFmpegUnusable):
        if path == bundled_ffmpeg():
            return f"the bundled FFmpeg ({path})"
    return path


def _advice(path: str) -> str:
    wanted = (
        f"FFmpeg {_dotted(MIN_FFMPEG_VERSION)} or newer built with libx264, libopus and "
        "libmp3lame (Debian 12's ffmpeg package is enough)"
    )
    if _configured(path):
        return f"Point V100_FFMPEG at {wanted}, or unset it to use the bundled FFmpeg."
    return f"Use {wanted}."


def _dotted(version: tuple[int, int]) -> str:
    return ".".join(map(str, version))


def _run_listings(path: str) -> dict[str, str]:
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for key, args in _LISTINGS.items():
            processes[key] = subprocess.Popen(  # noqa: S603 - the configured binary, our args
                [path, "-hide_banner", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        outputs = {}
        for key, process in processes.items():
            out, err = process.communicate(timeout=_TIMEOUT)
            if process.returncode != 0:
                last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
                raise _cannot_run(
                    path, f"`{' '.join(_LISTINGS[key])}` exited {process.returncode} {last[0]}"
                )
            outputs[key] = out.decode("utf-8", "replace")
        return outputs
    except OSError as error:
        raise _cannot_run(path, error.strerror or str(error)) from None
    except subprocess.TimeoutExpired:
        raise _cannot_run(path, f"no answer within {_TIMEOUT:g} s") from None
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def _cannot_run(path: str, reason: str) -> FFmpegUnusable:
    return FFmpegUnusable(
        f"{_origin(path)} could not be run as FFmpeg: {reason.strip()}. {_advice(path)}",
        path=path,
        missing=["a runnable FFmpeg"],
    )


_VERSION = re.compile(r"^ffmpeg version (\S+)")
_RELEASE = re.compile(r"n?(\d+)\.(\d+)")
_LIBAVCODEC = re.compile(r"^libavcodec\s+(\d+)\.\s*(\d+)\.", re.MULTILINE)
# Flag columns of the listings: "V....D", "TS", "..C", "DE", and 9.0's separate device "d".
_FLAGS = re.compile(r"[A-Z.|]{1,6}d?|d")
_CLI_OPTION = re.compile(r"^-(\w+)")
_CLASS_OPTION = re.compile(r"^ {2,3}-?([^\s<]+)\s+<")
_CLASS = re.compile(r"^(\S.*) AVOptions:$")
_KINDS = ("muxer", "demuxer", "encoder", "decoder")


def _parse(path: str, listings: dict[str, str]) -> FFmpegBuild:
    found = _VERSION.match(listings["version"])
    if found is None:
        first = (listings["version"].strip().splitlines() or ["nothing"])[0]
        raise _cannot_run(path, f"`-version` printed {first[:80]!r}")
    version = found[1]
    release = _RELEASE.match(version)
    libavcodec = _LIBAVCODEC.search(listings["version"])
    options, classes = _options(listings["help"])
    return FFmpegBuild(
        path=path,
        version=version,
        release=(int(release[1]), int(release[2])) if release else None,
        libavcodec=(int(libavcodec[1]), int(libavcodec[2])) if libavcodec else None,
        filters=_names(listings["filters"]),
        encoders=_names(listings["encoders"]),
        muxers=_names(listings["muxers"]),
        demuxers=_names(listings["demuxers"]),
        protocols=frozenset(
            line.strip() for line in listings["protocols"].splitlines() if line.startswith("  ")
        ),
        options=options,
        classes=classes,
    )


def _names(listing: str) -> frozenset[str]:
    """Names in a ``-filters``/``-encoders``/``-muxers``/``-demuxers`` listing: each entry is a
    flag column, the name (demuxers: "mov,mp4,m4a,..."), then a description; legend lines hold
    " = "."""
    names: set[str] = set()
    for line in listing.splitlines():
        if not line.startswith(" ") or " = " in line:
            continue
        tokens = line.split()
        while tokens and _FLAGS.fullmatch(tokens[0]):
            tokens.pop(0)
        if len(tokens) >= 2:
            names.update(tokens[0].split(","))
    return frozenset(names)


def _options(help_full: str) -> tuple[frozenset[str], Mapping[tuple[str, str], frozenset[str]]]:
    """From ``-h full``: ffmpeg's own options (lines "-name ..." before the first class), and
    each class's AVOptions. A class header names one or more components ("mov/mp4/ipod muxer",
    "scale(2ref)": scale and scale2ref)."""
    cli: set[str] = set()
    classes: dict[tuple[str, str], set[str]] = {}
    current: list[set[str]] | None = None
    for line in help_full.splitlines():
        if header := _CLASS.match(line):
            title, kind = header[1], ""
            if title.rsplit(" ", 1)[-1] in _KINDS:
                title, kind = title.rsplit(" ", 1)
            keys = {part for name in title.split("/") for part in (name, name.split("(")[0])}
            current = [classes.setdefault((kind, key), set()) for key in keys]
        elif current is None:
            if option := _CLI_OPTION.match(line):
                cli.add(option[1])
        elif option := _CLASS_OPTION.match(line):
            for options in current:
                options.add(option[1])
    frozen = {key: frozenset(value) for key, value in classes.items()}
    return frozenset(cli), MappingProxyType(frozen)
