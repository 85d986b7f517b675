"""Burnt-in captions: the subtitles filter finds its file whatever characters the path holds
(both levels of FFmpeg's filter escaping), the style reaches libass, the output keeps the
source's length, and a picture with no video is refused."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from v100.contracts.transcripts import TranscriptDocument
from v100.media import UnsupportedMedia, probe
from v100.media.burn_in import CaptionStyle, burn_captions, filter_value
from v100.media.captions import build_cues, render_srt
from v100.media.testing import make_audio, make_video


def frame_at(path: Path, seconds: float) -> np.ndarray:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        container.seek(int(seconds / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= seconds - 0.02:
                return frame.to_ndarray(format="rgb24").astype(np.int16)
    raise AssertionError(f"no frame at {seconds} s")


def test_filter_values_are_escaped_for_both_levels() -> None:
    assert filter_value("a'b:c,d[e];f\\g") == "a\\\\\\'b\\\\:c\\,d\\[e\\]\\;f\\\\\\\\g"
    assert filter_value("/plain/path.srt") == "/plain/path.srt"


@pytest.mark.parametrize("colour", ["white", "#GGGGGG", "#FFF"])
def test_a_colour_is_rrggbb(colour: str) -> None:
    with pytest.raises(ValueError, match="RRGGBB"):
        CaptionStyle(colour=colour)


def test_force_style_scales_pixels_to_the_script() -> None:
    style = CaptionStyle(font_size=72, colour="#FF8000", outline=4, position="top", margin=36)
    fields = dict(item.split("=") for item in style.force_style(1080).split(","))
    assert fields["FontSize"] == "19.20"
    assert fields["Outline"] == "1.07"
    assert fields["PrimaryColour"] == "&H000080FF"
    assert fields["Alignment"] == "8"
    assert fields["MarginV"] == "10"


async def test_captions_are_burnt_in_from_an_awkward_path(tmp_path: Path) -> None:
    scratch = tmp_path / "it's: [a], b;c\\d"
    scratch.mkdir()
    source = make_video(
        scratch / "in.mp4", seconds=4, width=320, height=240, picture="color=c=blue"
    )
    doc = TranscriptDocument.model_validate({"duration": 4.0, "segments": [
        {"text": "Burnt in", "start": 1.0, "end": 2.0, "words": [
            {"word": "Burnt", "start": 1.0, "end": 1.5, "confidence": 1.0},
            {"word": "in", "start": 1.5, "end": 2.0, "confidence": 1.0}]}]})  # fmt: skip
    subtitles = scratch / "cues.srt"
    subtitles.write_text(render_srt(build_cues(doc)))
    output = await burn_captions(
        source, scratch / "out.mp4", await probe(source), subtitles,
        style=CaptionStyle(font_size=40, colour="#FFFF00"),
    )  # fmt: skip
    assert abs((await probe(output)).duration - 4.0) < 0.1
    lower = slice(120, 240)
    shown = np.abs(frame_at(output, 1.5)[lower] - frame_at(source, 1.5)[lower]).mean()
    hidden = np.abs(frame_at(output, 3.0)[lower] - frame_at(source, 3.0)[lower]).mean()
    assert shown > 5 * max(hidden, 0.5), (shown, hidden)


async def test_audio_alone_is_refused(tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "a.wav", seconds=1)
    subtitles = tmp_path / "c.srt"
    subtitles.write_text("")
    with pytest.raises(UnsupportedMedia):
        await burn_captions(audio, tmp_path / "o.mp4", await probe(audio), subtitles)
