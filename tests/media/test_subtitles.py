"""WebVTT subtitles in HLS: a master playlist rewritten to offer exactly the tracks given (added,
replaced, removed, never doubled), every variant naming the group, and a real ladder whose
subtitle rendition FFmpeg's own HLS demuxer finds, with a track playlist it reads the cues of."""

from __future__ import annotations

from pathlib import Path

import av

from v100.contracts.transcripts import TranscriptDocument
from v100.media import build_cues, encode_hls, plan_ladder, probe
from v100.media.captions import render_vtt
from v100.media.subtitles import SubtitleTrack, subtitles_playlist, with_subtitles
from v100.media.testing import make_video

MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_audio",NAME="audio",DEFAULT=YES,URI="audio/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,AUDIO="group_audio"
360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=426x240,AUDIO="group_audio"
240p/index.m3u8
"""
EN = SubtitleTrack("en", "en (generated)", "subtitles/en.m3u8")
FR = SubtitleTrack("fr", 'fr "quoted"', "subtitles/fr.m3u8")


def test_the_master_offers_exactly_the_tracks_given() -> None:
    one = with_subtitles(MASTER, [EN])
    lines = one.splitlines()
    media = [line for line in lines if "TYPE=SUBTITLES" in line]
    assert media == [
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subtitles",NAME="en (generated)",LANGUAGE="en",'
        'DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="subtitles/en.m3u8"'
    ]
    # After the audio rendition, before the first variant; every variant names the group.
    assert lines.index(media[0]) == 4
    variants = [line for line in lines if line.startswith("#EXT-X-STREAM-INF")]
    assert all(line.endswith(',SUBTITLES="subtitles"') for line in variants)
    # Rewriting is idempotent, adds in language order, drops the quotes a name cannot hold.
    assert with_subtitles(one, [EN]) == one
    two = with_subtitles(one, [FR, EN])
    names = [line.split('LANGUAGE="')[1][:2] for line in two.splitlines() if "SUBTITLES," in line]
    assert names == ["en", "fr"]
    assert 'NAME="fr quoted"' in two
    assert two.count('SUBTITLES="subtitles"') == 2
    # No tracks: the playlist as it was.
    assert with_subtitles(two, []) == MASTER


def test_one_webvtt_segment_spans_the_video() -> None:
    playlist = subtitles_playlist("en.vtt", 12.34)
    assert playlist.splitlines() == [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-TARGETDURATION:13",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXTINF:12.340,",
        "en.vtt",
        "#EXT-X-ENDLIST",
    ]


async def test_ffmpeg_reads_the_subtitles_of_a_real_ladder(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", seconds=3, width=320, height=240)
    info = await probe(source)
    out = await encode_hls(source, tmp_path / "hls", info, plan_ladder(info), segment_seconds=1)
    document = TranscriptDocument.model_validate(
        {"duration": 3.0, "text": "Hello there.", "segments": [{
            "text": "Hello there.", "start": 0.5, "end": 1.5, "words": [
                {"word": "Hello", "start": 0.5, "end": 0.9, "confidence": 0.9},
                {"word": "there.", "start": 1.0, "end": 1.5, "confidence": 0.9}]}]}
    )  # fmt: skip
    folder = tmp_path / "hls" / "subtitles"
    folder.mkdir()
    (folder / "en.vtt").write_text(render_vtt(build_cues(document)))
    (folder / "en.m3u8").write_text(subtitles_playlist("en.vtt", info.duration))
    master = out.master_playlist
    master.write_text(with_subtitles(master.read_text(), [EN]))

    # FFmpeg's demuxer offers the rendition from the master (it does not read WebVTT segments
    # of a master's subtitle rendition: players do), and reads the track's own playlist.
    with av.open(str(master), options={"protocol_whitelist": "file"}) as container:
        assert len(container.streams.video) == 1
        (subtitles,) = container.streams.subtitles
        assert subtitles.codec_context.name == "webvtt"
        assert subtitles.metadata.get("language") == "en"
        assert subtitles.metadata.get("comment") == "en (generated)"
    with av.open(str(folder / "en.m3u8"), options={"protocol_whitelist": "file"}) as container:
        cues = [
            (float(packet.pts * packet.time_base), bytes(packet).decode())
            for packet in container.demux(container.streams.subtitles[0])
            if packet.pts is not None and packet.size
        ]
    assert cues == [(0.5, "Hello there.")]
