"""WebVTT subtitles in HLS (RFC 8216): the media playlist of one subtitle rendition (a single
WebVTT file for the whole video) and a master playlist rewritten to offer a set of them as
``#EXT-X-MEDIA:TYPE=SUBTITLES`` renditions of one group, which every variant names. The
rewrite first drops whatever subtitles the playlist offered, so rewriting with the current set
is the one way to add, replace or remove a track."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SUBTITLES_GROUP", "SubtitleTrack", "subtitles_playlist", "with_subtitles"]

SUBTITLES_GROUP = "subtitles"
_SUBTITLES_ATTRIBUTE = re.compile(r',SUBTITLES="[^"]*"')
# A quoted-string may hold neither a double quote nor a line break (RFC 8216 4.2).
_UNQUOTABLE = re.compile(r'["\r\n]')


@dataclass(frozen=True, slots=True)
class SubtitleTrack:
    language: str  # RFC 5646 ("en")
    name: str  # what players list ("en (generated)")
    uri: str  # the track's media playlist, relative to the master ("subtitles/en.m3u8")


def subtitles_playlist(vtt_uri: str, duration: float) -> str:
    """A VOD media playlist of one WebVTT segment spanning ``duration`` seconds. Cue times are
    the video's own: the fMP4 segments start at 0, the mapping RFC 8216 assumes when a WebVTT
    file carries no ``X-TIMESTAMP-MAP``."""
    seconds = max(duration, 0.001)
    return "\n".join(
        [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{math.ceil(seconds)}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            f"#EXTINF:{seconds:.3f},",
            vtt_uri,
            "#EXT-X-ENDLIST",
            "",
        ]
    )


def _media_line(track: SubtitleTrack) -> str:
    name = _UNQUOTABLE.sub("", track.name)
    return (
        f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{SUBTITLES_GROUP}",NAME="{name}",'
        f'LANGUAGE="{track.language}",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="{track.uri}"'
    )


def with_subtitles(master: str, tracks: Sequence[SubtitleTrack]) -> str:
    """``master`` offering exactly ``tracks`` (by language), and nothing when there are none."""
    kept: list[str] = []
    for line in master.splitlines():
        if line.startswith("#EXT-X-MEDIA:") and "TYPE=SUBTITLES" in line:
            continue
        if line.startswith("#EXT-X-STREAM-INF:"):
            line = _SUBTITLES_ATTRIBUTE.sub("", line)
            if tracks:
                line += f',SUBTITLES="{SUBTITLES_GROUP}"'
        kept.append(line)
    media = [_media_line(track) for track in sorted(tracks, key=lambda t: t.language)]
    # After the other renditions (audio), before the first variant.
    at = next((i for i, line in enumerate(kept) if line.startswith("#EXT-X-STREAM-INF:")), None)
    if at is None:
        at = len(kept)
    return "\n".join([*kept[:at], *media, *kept[at:]]) + "\n"
