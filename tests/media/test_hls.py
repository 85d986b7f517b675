"""The HLS ladder: rungs chosen from the source and never upscaled, one FFmpeg run that encodes
every rung once, keyframes aligned, and playlists FFmpeg's own HLS demuxer plays to the end."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from v100.media import (
    MediaInfo,
    Progress,
    UnsupportedMedia,
    VideoStreamInfo,
    encode_hls,
    hls_args,
    plan_ladder,
    probe,
)
from v100.media.testing import make_audio, make_video

# Reading our own local playlist in the test: HLS + fMP4 demuxers, file protocol only.
_READ = {"protocol_whitelist": "file"}


def _info(width: int, height: int, *, rotation: int = 0) -> MediaInfo:
    return MediaInfo(
        container="mov,mp4,m4a,3gp,3g2,mj2",
        duration=10.0,
        size=1,
        bit_rate=None,
        video=VideoStreamInfo(
            codec="h264",
            width=width,
            height=height,
            rotation=rotation,
            frame_rate=30.0,
            variable_frame_rate=False,
            pixel_format="yuv420p",
            bit_rate=None,
        ),
        audio=None,
    )


def _names(info: MediaInfo) -> list[str]:
    return [rung.name for rung in plan_ladder(info)]


def test_rungs_at_or_below_the_source() -> None:
    assert _names(_info(1920, 1080)) == ["1080p", "720p", "480p", "360p", "240p"]
    assert _names(_info(3840, 2160))[0] == "2160p"
    assert _names(_info(1280, 720)) == ["720p", "480p", "360p", "240p"]


def test_a_source_between_rungs_tops_the_ladder_at_its_own_size() -> None:
    # 1000p sits between 1080p and 720p: its own size on top, 720p kept below.
    ladder = plan_ladder(_info(1776, 1000))
    assert [(r.name, r.width, r.height) for r in ladder[:2]] == [
        ("1000p", 1776, 1000),
        ("720p", 1278, 720),
    ]
    assert ladder[0].video_bitrate > ladder[1].video_bitrate
    # 760p is within 15% of 720p: 720p gives way to the source's size.
    assert _names(_info(1350, 760)) == ["760p", "480p", "360p", "240p"]


def test_tiny_and_portrait_and_rotated_sources() -> None:
    assert [(r.name, r.width, r.height) for r in plan_ladder(_info(160, 120))] == [
        ("120p", 160, 120)
    ]
    portrait = plan_ladder(_info(1080, 1920))
    assert [(r.name, r.width, r.height) for r in portrait[:2]] == [
        ("1080p", 1080, 1920),
        ("720p", 720, 1280),
    ]
    # Stored landscape, shown portrait: the ladder follows the display.
    rotated = plan_ladder(_info(1280, 720, rotation=90))
    assert (rotated[0].width, rotated[0].height) == (720, 1280)


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (641, 359), (333, 777), (100, 60)])
def test_never_upscales_and_sizes_are_even(width: int, height: int) -> None:
    ladder = plan_ladder(_info(width, height))
    assert ladder
    for rung in ladder:
        assert rung.width <= width
        assert rung.height <= height
        assert rung.width % 2 == 0
        assert rung.height % 2 == 0
        assert rung.max_rate >= rung.video_bitrate


def test_one_input_one_decode_every_rung_encoded_once(tmp_path: Path) -> None:
    info = _info(1280, 720)
    ladder = plan_ladder(info)
    args = hls_args("in.mp4", tmp_path, info, ladder)
    assert args.count("-i") == 1
    graph = args[args.index("-filter_complex") + 1]
    assert f"split={len(ladder)}" in graph
    assert graph.count("scale=") == len(ladder)
    assert sum(1 for a in args if a.startswith("-b:v:")) == len(ladder)


def _keyframe_times(playlist: Path) -> list[float]:
    with av.open(str(playlist), options=_READ) as container:
        stream = container.streams.video[0]
        times = [
            float(packet.pts * packet.time_base)
            for packet in container.demux(stream)
            if packet.is_keyframe and packet.pts is not None
        ]
    # Relative to the first picture (B-frames delay every rung's first timestamp alike).
    return [round(t - times[0], 2) for t in times]


def _decode_to_end(playlist: Path) -> tuple[int, float, tuple[int, int] | None]:
    """Frames decoded (video) and the time span they cover, playing the playlist through."""
    frames = 0
    first: float | None = None
    last = 0.0
    size = None
    with av.open(str(playlist), options=_READ) as container:
        stream = container.streams.video[0] if container.streams.video else container.streams[0]
        for frame in container.decode(stream):
            frames += 1
            if frame.pts is not None:
                at = float(frame.pts * frame.time_base)
                first = at if first is None else min(first, at)
                last = max(last, at)
            if stream.type == "video":
                size = (frame.width, frame.height)
    return frames, last - (first or 0.0), size


async def test_ladder_plays_to_the_end_with_aligned_keyframes(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", seconds=6, width=640, height=360, fps=25)
    info = await probe(source)
    ladder = plan_ladder(info)
    assert [r.name for r in ladder] == ["360p", "240p"]
    seen: list[Progress] = []
    out = await encode_hls(
        source, tmp_path / "hls", info, ladder, segment_seconds=2, on_progress=seen.append
    )
    assert seen[-1].percent == 100.0

    master = out.master_playlist.read_text()
    assert "://" not in master
    assert "\n/" not in master
    stream_lines = [line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF")]
    assert len(stream_lines) == 2
    for line, rung in zip(stream_lines, ladder, strict=True):
        assert f"RESOLUTION={rung.width}x{rung.height}" in line
        assert 'CODECS="avc1.' in line
        assert "mp4a.40.2" in line
        assert "BANDWIDTH=" in line
    assert "#EXT-X-MEDIA:TYPE=AUDIO" in master

    # The master playlist opens with every variant and the audio rendition.
    with av.open(str(out.master_playlist), options=_READ) as container:
        sizes = {(s.codec_context.width, s.codec_context.height) for s in container.streams.video}
        assert sizes == {(r.width, r.height) for r in ladder}
        assert container.streams.audio

    keyframes = []
    for variant, rung in zip(out.variants, ladder, strict=True):
        assert variant.duration == pytest.approx(6.0, abs=0.05)
        frames, last, size = _decode_to_end(variant.playlist)
        assert size == (rung.width, rung.height)
        assert frames == 150
        assert last == pytest.approx(6.0 - 0.04, abs=0.05)
        # Bandwidth in the master covers each segment's measured rate.
        assert variant.peak_bitrate > 0
        keyframes.append(_keyframe_times(variant.playlist))
        assert len(variant.segments) == 3
    assert keyframes[0] == [0.0, 2.0, 4.0]
    assert all(k == keyframes[0] for k in keyframes)

    assert out.audio is not None
    _, span, _ = _decode_to_end(out.audio.playlist)
    assert span == pytest.approx(6.0, abs=0.1)
    assert all(path.exists() for path in out.files)
    # Every file written is listed (callers upload exactly these).
    written = {p for p in (tmp_path / "hls").rglob("*") if p.is_file()}
    assert set(out.files) == written


async def test_rotated_source_ladder_is_upright(tmp_path: Path) -> None:
    source = make_video(tmp_path / "r.mp4", seconds=2, width=320, height=240, rotation=90)
    info = await probe(source)
    out = await encode_hls(source, tmp_path / "hls", info, plan_ladder(info))
    assert [(v.rung.width, v.rung.height) for v in out.variants if v.rung] == [(240, 320)]
    _, _, size = _decode_to_end(out.variants[0].playlist)
    assert size == (240, 320)


async def test_silent_video_has_no_audio_rendition(tmp_path: Path) -> None:
    source = make_video(tmp_path / "m.mp4", seconds=2, width=320, height=240, audio=False)
    info = await probe(source)
    out = await encode_hls(source, tmp_path / "hls", info, plan_ladder(info))
    assert out.audio is None
    assert "EXT-X-MEDIA" not in out.master_playlist.read_text()
    frames, _, _ = _decode_to_end(out.variants[0].playlist)
    assert frames == 50


async def test_audio_only_is_refused(tmp_path: Path) -> None:
    source = make_audio(tmp_path / "a.wav")
    info = await probe(source)
    with pytest.raises(UnsupportedMedia):
        plan_ladder(info)


async def test_a_rung_above_the_source_is_refused(tmp_path: Path) -> None:
    info = _info(640, 360)
    with pytest.raises(ValueError, match="upscales"):
        hls_args("in.mp4", tmp_path, info, plan_ladder(_info(1280, 720)))
