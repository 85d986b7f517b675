"""A video's caption tracks, as Mux's generated subtitles: one text track per language, made
once from a transcript document (``v100.media.captions``) and stored under ``videos/<id>/`` as
WebVTT (also served as the track's HLS subtitle rendition, ``hls/subtitles/<lang>.vtt`` with its
one-segment playlist) and SRT; the video's master playlist is rewritten to offer every track
it has (``v100.media.subtitles``). Attaching a track again replaces it. Also the audio another
service transcribes: the M4A rendition, cut from the timeline the video plays, so its
captions fit the picture; and the MP4 rendition another service analyses (video_analysis). No
HTTP objects in here."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.transcripts import TranscriptDocument
from v100.contracts.videos import CaptionTrackIn
from v100.kit.storage import ObjectStore
from v100.media.captions import build_cues, render_srt, render_vtt
from v100.media.subtitles import SubtitleTrack, subtitles_playlist, with_subtitles
from v100.services.video_processing.errors import (
    CaptionTrackNotFound,
    VideoHasNoAudio,
    VideoHasNoPicture,
    VideoNotFound,
    VideoNotReady,
)
from v100.services.video_processing.models import (
    CaptionSource,
    CaptionTrack,
    Rendition,
    RenditionKind,
    Video,
    VideoStatus,
)
from v100.services.video_processing.outputs import content_type, video_key
from v100.services.video_processing.repository import CaptionTrackRepository, VideoRepository

__all__ = ["AUDIO_RENDITION", "CaptionService", "CaptionText"]

# The renditions another service's transcription (audio) and analysis (picture) read.
AUDIO_RENDITION = "m4a"
PICTURE_RENDITION = "mp4"
SRT_TYPE = "application/x-subrip"


@dataclass(frozen=True, slots=True)
class CaptionText:
    vtt: str
    srt: str
    cues: int


def _render(document: TranscriptDocument) -> CaptionText:
    cues = build_cues(document)
    return CaptionText(render_vtt(cues), render_srt(cues), len(cues))


def track_name(language: str) -> str:
    return f"{language} (generated)"


def _subtitle_uri(language: str) -> str:
    """Relative to the master playlist (``hls/master.m3u8``)."""
    return f"subtitles/{language}.m3u8"


class CaptionService:
    """One per request: the request's session, the service's store."""

    def __init__(self, session: AsyncSession, storage: ObjectStore) -> None:
        self.session = session
        self.storage = storage
        self.videos = VideoRepository(session)
        self.tracks = CaptionTrackRepository(session)

    async def _video(self, tenant_id: str, video_id: str) -> Video:
        video = await self.videos.get(tenant_id, video_id)
        if video is None:
            raise VideoNotFound(f"No video {video_id}.")
        return video

    # -- the audio another service transcribes ------------------------------------------

    async def audio(self, tenant_id: str, video_id: str) -> tuple[Video, Rendition]:
        """The ready video and its M4A rendition; refused while it is not ready, or when it has
        no audio track."""
        video = await self._video(tenant_id, video_id)
        if video.status != VideoStatus.READY:
            raise VideoNotReady(f"Video {video.id} is {video.status}; its audio is not ready.")
        rendition = next((r for r in video.renditions if r.name == AUDIO_RENDITION), None)
        if rendition is None:
            raise VideoHasNoAudio(f"Video {video.id} has no audio track.")
        return video, rendition

    async def picture(self, tenant_id: str, video_id: str) -> tuple[Video, Rendition]:
        """The ready video and its MP4 rendition; refused while it is not ready, or when it has
        no picture (an audio-only upload)."""
        video = await self._video(tenant_id, video_id)
        if video.status != VideoStatus.READY:
            raise VideoNotReady(f"Video {video.id} is {video.status}; its picture is not ready.")
        rendition = next((r for r in video.renditions if r.name == PICTURE_RENDITION), None)
        if rendition is None:
            raise VideoHasNoPicture(f"Video {video.id} has no picture (audio only).")
        return video, rendition

    async def hls(self, tenant_id: str, video_id: str) -> tuple[Video, Rendition]:
        """The ready video and its HLS master playlist's rendition; refused while it is not
        ready, or when it has no ladder (an audio-only upload has no picture to stream)."""
        video = await self._video(tenant_id, video_id)
        if video.status != VideoStatus.READY:
            raise VideoNotReady(f"Video {video.id} is {video.status}; its HLS is not ready.")
        master = next(
            (r for r in video.renditions if r.kind == RenditionKind.HLS and r.name == "master"),
            None,
        )
        if master is None:
            raise VideoHasNoPicture(f"Video {video.id} has no HLS ladder (audio only).")
        return video, master

    def has_audio(self, video: Video) -> bool:
        return any(r.name == AUDIO_RENDITION for r in video.renditions)

    # -- tracks ---------------------------------------------------------------------------

    async def attach(
        self, tenant_id: str, video_id: str, language: str, track: CaptionTrackIn
    ) -> CaptionTrack:
        """Make the track from the transcript, store its files, offer it in the video's HLS
        master playlist; the video's row is locked meanwhile (one rewrite at a time)."""
        video = await self.videos.locked(video_id)
        if video is None or video.tenant_id != tenant_id:
            raise VideoNotFound(f"No video {video_id}.")
        if video.status != VideoStatus.READY:
            raise VideoNotReady(f"Video {video.id} is {video.status}; captions need it ready.")
        text = await asyncio.to_thread(_render, track.document)
        vtt_key = video_key(video.id, f"hls/subtitles/{language}.vtt")
        srt_key = video_key(video.id, f"captions/{language}.srt")
        await self.storage.put(vtt_key, text.vtt.encode(), content_type(vtt_key))
        await self.storage.put(srt_key, text.srt.encode(), SRT_TYPE)
        playlist = subtitles_playlist(f"{language}.vtt", track.document.duration)
        playlist_key = video_key(video.id, f"hls/{_subtitle_uri(language)}")
        await self.storage.put(playlist_key, playlist.encode(), content_type(playlist_key))
        row = await self.tracks.replace(
            CaptionTrack(
                tenant_id=tenant_id, video_id=video.id, language=language,
                name=track_name(language), source=CaptionSource.GENERATED,
                transcript_id=track.transcript_id, cues=text.cues, vtt_key=vtt_key,
                srt_key=srt_key,
            )
        )  # fmt: skip
        await self._offer(video, await self.tracks.of_video(video.id))
        return row

    async def _offer(self, video: Video, tracks: Sequence[CaptionTrack]) -> None:
        """The master playlist (when the video has one) offering exactly ``tracks``."""
        master = next((r for r in video.renditions if r.name == "master"), None)
        if master is None:
            return  # audio only: no HLS to offer captions in
        text = (await self.storage.get(master.key)).decode()
        subtitles = [SubtitleTrack(t.language, t.name, _subtitle_uri(t.language)) for t in tracks]
        rewritten = with_subtitles(text, subtitles)
        if rewritten != text:
            await self.storage.put(master.key, rewritten.encode(), content_type(master.key))

    async def of_video(self, tenant_id: str, video_id: str) -> Sequence[CaptionTrack]:
        video = await self._video(tenant_id, video_id)
        return await self.tracks.of_video(video.id)

    async def track(self, tenant_id: str, video_id: str, language: str) -> CaptionTrack:
        video = await self._video(tenant_id, video_id)
        found = await self.tracks.named(video.id, language)
        if found is None:
            raise CaptionTrackNotFound(f"Video {video.id} has no {language!r} captions.")
        return found
