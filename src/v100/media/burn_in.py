"""Captions burnt into the picture: FFmpeg's ``subtitles`` filter (libass) draws an SRT file
on the video, styled with ``force_style``, in the same MP4 ``encode_mp4`` makes (H.264/AAC,
constant frame rate, upright). The filter's file name is escaped for both levels of FFmpeg's
filter syntax, so any path works."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from v100.media._encoding import (
    DEFAULT_MAX_PIXELS,
    check_complete,
    fit_within,
    require_video,
    run_timeout,
)
from v100.media._ffmpeg import ProgressCallback, run_ffmpeg
from v100.media.mp4 import mp4_args
from v100.media.probe import MediaInfo

__all__ = ["CaptionStyle", "burn_captions", "filter_value", "subtitles_filter"]

# libass lays out an SRT on a 288-line script (FFmpeg's default ASS header): sizes given in
# the picture's pixels are scaled to it.
_SCRIPT_HEIGHT = 288
# ASS alignment (numeric keypad): bottom, middle and top centre.
_ALIGNMENT = {"bottom": 2, "middle": 5, "top": 8}
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")


@dataclass(frozen=True, slots=True)
class CaptionStyle:
    # Text height in pixels of the output picture; None: 5% of its height.
    font_size: float | None = None
    colour: str = "#FFFFFF"
    outline_colour: str = "#000000"
    # The outline's width in pixels (0: none).
    outline: float = 2.0
    position: Literal["bottom", "middle", "top"] = "bottom"
    # Distance from the picture's edge in pixels (bottom or top); None: 5% of the height.
    margin: float | None = None
    bold: bool = False

    def __post_init__(self) -> None:
        for colour in (self.colour, self.outline_colour):
            if not _COLOUR.match(colour):
                raise ValueError(f"a colour is #RRGGBB, not {colour!r}")
        if self.position not in _ALIGNMENT:
            raise ValueError(f"position is bottom, middle or top, not {self.position!r}")

    def force_style(self, height: int) -> str:
        """The ``force_style`` of this style on a picture ``height`` pixels tall."""
        scale = _SCRIPT_HEIGHT / height
        size = self.font_size if self.font_size is not None else 0.05 * height
        margin = self.margin if self.margin is not None else 0.05 * height
        fields = {
            "FontSize": f"{size * scale:.2f}",
            "PrimaryColour": _ass_colour(self.colour),
            "OutlineColour": _ass_colour(self.outline_colour),
            "BorderStyle": "1",
            "Outline": f"{self.outline * scale:.2f}",
            "Shadow": "0",
            "Bold": "-1" if self.bold else "0",
            "Alignment": str(_ALIGNMENT[self.position]),
            "MarginV": str(round(margin * scale)),
        }
        return ",".join(f"{key}={value}" for key, value in fields.items())


def _ass_colour(rgb: str) -> str:
    red, green, blue = rgb[1:3], rgb[3:5], rgb[5:7]
    return f"&H00{blue}{green}{red}".upper()


def filter_value(value: str) -> str:
    """``value`` as one option value inside a filter graph: escaped for the filter's option
    parser (``\\ ' :``), then for the graph's (``\\ ' [ ] , ;``), as FFmpeg's filter docs
    describe ("Notes on filtergraph escaping")."""
    option = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option)


def subtitles_filter(path: str | Path, style: CaptionStyle, height: int) -> str:
    return (
        f"subtitles=filename={filter_value(str(path))}"
        f":force_style={filter_value(style.force_style(height))}"
    )


async def burn_captions(
    src: str | Path,
    dst: str | Path,
    info: MediaInfo,
    subtitles: str | Path,
    *,
    style: CaptionStyle | None = None,
    on_progress: ProgressCallback | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout: float | None = None,  # noqa: ASYNC109 - bounded FFmpeg run, FFmpegTimedOut
) -> Path:
    """``src`` as an MP4 (as ``encode_mp4`` makes it, same length) with the SRT file
    ``subtitles`` drawn on its picture. ``UnsupportedMedia`` when it has no video."""
    dst = Path(dst)
    video = require_video(info, max_pixels=max_pixels)
    _, height = fit_within(video.display_width, video.display_height)
    overlay = subtitles_filter(subtitles, style or CaptionStyle(), height)
    args = mp4_args(src, dst, info, max_pixels=max_pixels, overlay=overlay)
    await run_ffmpeg(
        args,
        duration=info.duration,
        on_progress=on_progress,
        timeout=timeout if timeout is not None else run_timeout(info.duration),
    )
    await check_complete(dst, expected=info.duration)
    return dst
