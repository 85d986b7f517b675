"""``REQUIRED`` (what the start-up check asks of an FFmpeg) lists everything our operations pass:
every operation runs once on tiny real media while the FFmpeg commands are recorded, and each
option, filter (with its named options), encoder and muxer in them must be in the list. An
operation that starts using something new fails here until the check asks for it too."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from v100.contracts.transcripts import TranscriptDocument
from v100.media import (
    PLATFORM_SPECS,
    cut_clip,
    detect_trim,
    encode_hls,
    encode_mp4,
    extract_audio,
    measure_loudness,
    normalize_loudness,
    plan_ladder,
    poster,
    probe,
    storyboard,
)
from v100.media._requirements import REQUIRED, Requirements
from v100.media.audio import AUDIO_FORMATS, resample_audio
from v100.media.clip_render import render_clip
from v100.media.smart_crop import CropPath, CropShot, Pan
from v100.media.testing import make_audio, make_video

# FFmpeg's guess of the muxer from an output's suffix, where we pass no -f.
_GUESSED = {".m4a": "ipod", ".jpg": "image2", ".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
_FILTER_OPTIONS = {"-af", "-vf", "-filter_complex"}


# A 96x64 clip's plan with a shot of each kind: a window panning, two panes, the fitted frame.
_EVERY_LAYOUT = CropPath(96, 64, (9, 16), 0.0, 1.5, (
    CropShot(0.0, 0.5, "follow", (1,), (Pan(36, 64, ((0.0, 0, 0), (0.5, 60, 0))),)),
    CropShot(0.5, 1.0, "split", (1, 2), (Pan(36, 32, ((0.5, 0, 0),)),
                                         Pan(36, 32, ((0.5, 60, 32), (1.0, 50, 30))))),
    CropShot(1.0, 1.5, "fit", (1, 2)),
))  # fmt: skip
_ONE_WORD = TranscriptDocument.model_validate({"duration": 1.5, "segments": [
    {"text": "Hi", "start": 0.1, "end": 1.4,
     "words": [{"word": "Hi", "start": 0.1, "end": 1.4, "confidence": 1.0}]}]})  # fmt: skip


async def _record_operations(tmp_path: Path) -> list[list[str]]:
    commands: list[list[str]] = []
    real = asyncio.create_subprocess_exec

    async def recording(*command: str, **kwargs: Any) -> asyncio.subprocess.Process:
        commands.append(list(command))
        return await real(*command, **kwargs)

    video = make_video(tmp_path / "v.mp4", seconds=1.5, width=96, height=64, keyframe_interval=8)
    # 3 s: loudnorm hands a shorter file over as one frame, too big for the FLAC encoder.
    tone = make_audio(tmp_path / "a.wav", seconds=3, volume_db=-20)
    video_info, tone_info = await probe(video), await probe(tone)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(asyncio, "create_subprocess_exec", recording)
        await encode_mp4(video, tmp_path / "o.mp4", video_info)
        await encode_mp4(video, tmp_path / "s.mp4", video_info, spec=PLATFORM_SPECS["tiktok"])
        await extract_audio(video, tmp_path / "x.m4a", video_info)
        await encode_hls(video, tmp_path / "hls", video_info, plan_ladder(video_info))
        await poster(video, tmp_path / "p.jpg", video_info, at=0.5, width=48)
        await storyboard(video, tmp_path / "board", video_info)
        await detect_trim(video, video_info)
        await cut_clip(video, tmp_path / "c.mp4", video_info, start=0.2, end=1.0, mode="fast")
        await cut_clip(video, tmp_path / "k.mp4", video_info, start=0.2, end=1.0, mode="accurate")
        await render_clip(video, tmp_path / "r.mp4", video_info, start=0.0, end=1.5,
                          crop=_EVERY_LAYOUT, spec=PLATFORM_SPECS["tiktok"],
                          transcript=_ONE_WORD)  # fmt: skip
        measured = await measure_loudness(tone, info=tone_info)
        for suffix in (".m4a", ".wav", ".flac", ".opus", ".ogg", ".webm", ".mp3"):
            await normalize_loudness(tone, tmp_path / f"n{suffix}", tone_info, measured=measured)
        await normalize_loudness(video, tmp_path / "n.mp4", video_info)
        for suffix in AUDIO_FORMATS:
            await resample_audio(tone, tmp_path / f"r{suffix}", tone_info, sample_rate=16_000)
    # (Scene detection decodes in-process with PyAV: it runs no FFmpeg binary.)
    return commands


def _split(text: str, separators: str) -> list[str]:
    """``text`` cut at each separator outside quotes and not escaped by a backslash."""
    parts, current, quoted, escaped = [], "", False, False
    for char in text:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            current, escaped = current + char, True
        elif char == "'":
            current, quoted = current + char, not quoted
        elif char in separators and not quoted:
            parts, current = [*parts, current], ""
        else:
            current += char
    return [*parts, current]


def _filters(graph: str) -> list[tuple[str, list[str]]]:
    """(name, named options) of each filter in a filtergraph."""
    found = []
    for spec in _split(graph, ",;"):
        spec = re.sub(r"^(\[[^]]*\])+|(\[[^]]*\])+$", "", spec.strip())
        name, _, arguments = spec.partition("=")
        keys = [p.split("=", 1)[0] for p in _split(arguments, ":") if re.match(r"^\w+=", p)]
        found.append((name, keys))
    return found


def _uncovered(commands: Sequence[list[str]], required: Requirements) -> set[str]:
    known_options = {
        *required.options,
        *required.format_options,
        *required.codec_options,
        *(o for options in required.encoders.values() for o in options),
        *(o for options in required.muxers.values() for o in options),
    }
    problems: set[str] = set()
    for command in commands:
        args = command[1:]
        # The output's muxer: a -f after the last input, else FFmpeg's guess from the suffix.
        after_inputs = args[len(args) - args[::-1].index("-i") :]
        output = Path(args[-1])
        if "-f" in after_inputs:
            muxer = after_inputs[after_inputs.index("-f") + 1]
        else:
            muxer = _GUESSED.get(output.suffix, output.suffix[1:])
        if muxer not in required.muxers:
            problems.add(f"muxer {muxer}")
        for index, arg in enumerate(args):
            if not re.match(r"^-[a-z]", arg):
                continue  # a value, such as -1 or "-" (no output)
            name = arg[1:].split(":")[0]
            value = args[index + 1] if index + 1 < len(args) else ""
            if name.startswith("no") and name[2:] in required.options:
                name = name[2:]
            if name != "i" and name not in known_options:
                problems.add(f"option -{name}")
            if name in ("c", "codec") and value != "copy" and value not in required.encoders:
                problems.add(f"encoder {value}")
            if arg in _FILTER_OPTIONS:
                for filter_name, keys in _filters(value):
                    if filter_name not in required.filters:
                        problems.add(f"filter {filter_name}")
                        continue
                    allowed = required.filters[filter_name]
                    problems |= {f"{filter_name} option {k}" for k in keys if k not in allowed}
    return problems


@pytest.mark.timeout(300)
async def test_the_check_asks_for_everything_the_operations_pass(tmp_path: Path) -> None:
    commands = await _record_operations(tmp_path)
    assert len(commands) == 24  # one per operation run above (a two-pass loudness: two)
    assert _uncovered(commands, REQUIRED) == set()
    # The filtergraphs were read, not skipped: every filter REQUIRED lists is in them.
    seen = {
        name
        for command in commands
        for flag, graph in itertools.pairwise(command)
        if flag in _FILTER_OPTIONS
        for name, _ in _filters(graph)
    }
    assert seen == set(REQUIRED.filters)


def test_the_recorder_would_notice_something_new() -> None:
    command = [
        "ffmpeg",
        "-nostats",
        "-i",
        "in.mp4",
        "-vf",
        "[0:v:0]scale=96:-2:interl=1,drawtext=text='a\\,b':x=1,setsar=1[v]",
        "-c:v",
        "libsvtav1",
        "-shortest",
        "-f",
        "matroska",
        "out.mkv",
    ]
    assert _uncovered([command], REQUIRED) == {
        "scale option interl",
        "filter drawtext",
        "encoder libsvtav1",
        "option -shortest",
        "muxer matroska",
    }
