"""The URLs video_processing hands out and the response bodies that carry them: signed playback
URLs (``/v1/videos/playback/{token}/hls/master.m3u8``: the token is in the path, so the relative
URIs inside playlists inherit it, as with Mux's signed playback), presigned downloads from the
object store (S3's own, or the local store's signed links), and direct-upload tus URLs."""

from __future__ import annotations

from datetime import UTC, datetime

from v100.kit.storage import ObjectStore
from v100.services.video_processing import lifecycle
from v100.services.video_processing.models import (
    CaptionTrack,
    Clip,
    ClipStatus,
    DirectUpload,
    DirectUploadStatus,
    Rendition,
    RenditionKind,
    Video,
    VideoStatus,
)
from v100.services.video_processing.schemas import (
    CaptionTrackOut,
    ClipOut,
    DirectUploadOut,
    ErrorOut,
    PlaybackOut,
    RenditionOut,
    VideoOut,
)
from v100.services.video_processing.settings import VideoProcessingSettings
from v100.services.video_processing.tokens import UrlSigner, now

__all__ = ["PLAYBACK_PREFIX", "Links"]

PLAYBACK_PREFIX = "/v1/videos/playback"


class Links:
    def __init__(
        self,
        base: str,
        signer: UrlSigner,
        storage: ObjectStore | None,
        settings: VideoProcessingSettings,
    ) -> None:
        self.base = base
        self.signer = signer
        self.storage = storage
        self.settings = settings

    def _absolute(self, url: str) -> str:
        return url if "://" in url else f"{self.base}{url}"

    async def download(self, key: str, filename: str | None = None) -> str | None:
        if self.storage is None:
            return None
        url = await self.storage.presign_get(
            key, self.settings.playback_url_seconds, filename=filename
        )
        return self._absolute(url)

    def playback_url(self, token: str, relative: str) -> str:
        return f"{self.base}{PLAYBACK_PREFIX}/{token}/{relative}"

    async def playback(self, video: Video) -> tuple[PlaybackOut | None, dict[str, str]]:
        """Signed URLs for a ready video, and each rendition's URL by name."""
        if video.status != VideoStatus.READY:
            return None, {}
        expires_at = now() + self.settings.playback_url_seconds
        token = self.signer.playback(video.tenant_id, video.id, expires_at)
        prefix = f"videos/{video.id}/"
        by_name: dict[str, Rendition] = {r.name: r for r in video.renditions}
        urls: dict[str, str] = {}
        for rendition in video.renditions:
            if rendition.kind == RenditionKind.HLS:
                urls[rendition.name] = self.playback_url(token, rendition.key.removeprefix(prefix))
        stem = (video.title or video.id).replace("/", "_")[:100]
        for name, suffix in (("mp4", ".mp4"), ("m4a", ".m4a"), ("poster", ".jpg")):
            if name in by_name:
                url = await self.download(by_name[name].key, f"{stem}{suffix}")
                if url is not None:
                    urls[name] = url
        vtt = None
        if "storyboard" in by_name:
            sprite = by_name["storyboard"]
            urls["storyboard"] = self.playback_url(token, sprite.key.removeprefix(prefix))
            vtt_key = str(sprite.extra.get("vtt_key", ""))
            if vtt_key:
                # Served here, so the sprite names inside it resolve next to it.
                vtt = self.playback_url(token, vtt_key.removeprefix(prefix))
        out = PlaybackOut(
            hls=urls.get("master"),
            mp4=urls.get("mp4"),
            m4a=urls.get("m4a"),
            poster=urls.get("poster"),
            storyboard=urls.get("storyboard"),
            storyboard_vtt=vtt,
            expires_at=datetime.fromtimestamp(expires_at, UTC),
        )
        return out, urls

    async def video(self, video: Video) -> VideoOut:
        playback, urls = await self.playback(video)
        error = None
        if video.status == VideoStatus.ERRORED:
            error = ErrorOut(
                type=video.error_type or "processing-failed",
                detail=video.error_detail or "Processing failed.",
            )
        trim = None
        if video.trim_start is not None and video.trim_end is not None:
            trim = {"start": video.trim_start, "end": video.trim_end}
        renditions = [
            RenditionOut(
                name=r.name,
                kind=r.kind,
                content_type=r.content_type,
                size=r.size,
                width=r.width,
                height=r.height,
                bitrate=r.bitrate,
                duration=r.duration,
                url=urls.get(r.name),
            )
            for r in video.renditions
        ]
        return VideoOut(
            id=video.id,
            project_id=video.project_id,
            title=video.title,
            passthrough=video.passthrough,
            status=video.status,
            progress=video.progress,
            duration=video.duration,
            aspect_ratio=video.aspect_ratio,
            max_resolution=lifecycle.max_resolution(video),
            source=video.media_info,
            normalize_audio=video.normalize_audio,
            auto_trim=video.auto_trim,
            trim=trim,
            upload_id=video.upload_id,
            renditions=renditions,
            playback=playback,
            credits_charged=video.credits_charged,
            error=error,
            created_at=video.created_at,
            updated_at=video.updated_at,
            ready_at=video.ready_at,
        )

    async def clip(self, clip: Clip) -> ClipOut:
        url = None
        if clip.status == ClipStatus.READY and clip.key:
            url = await self.download(clip.key, f"clip-{clip.id}.mp4")
        error = None
        if clip.status == ClipStatus.ERRORED:
            error = ErrorOut(
                type=clip.error_type or "processing-failed",
                detail=clip.error_detail or "Rendering failed.",
            )
        return ClipOut(
            id=clip.id,
            video_id=clip.video_id,
            highlight_id=clip.highlight_id,
            start=clip.start,
            end=clip.end,
            mode=clip.mode,
            platform=clip.platform,
            analysis_id=clip.analysis_id,
            aspect=clip.aspect,
            title=clip.title,
            captions=clip.captions,
            rendered_start=clip.rendered_start,
            rendered_end=clip.rendered_end,
            caption_cues=clip.caption_cues,
            status=clip.status,
            progress=clip.progress,
            duration=clip.duration,
            width=clip.width,
            height=clip.height,
            size=clip.size,
            credits_charged=clip.credits_charged,
            download_url=url,
            error=error,
            created_at=clip.created_at,
        )

    def caption_track(self, track: CaptionTrack) -> CaptionTrackOut:
        files = f"{self.base}/v1/videos/{track.video_id}/captions/{track.language}"
        return CaptionTrackOut(
            language=track.language,
            name=track.name,
            source=track.source,
            transcript_id=track.transcript_id,
            cues=track.cues,
            vtt_url=f"{files}.vtt",
            srt_url=f"{files}.srt",
            created_at=track.created_at,
            updated_at=track.updated_at,
        )

    def direct_upload(self, upload: DirectUpload) -> DirectUploadOut:
        url = None
        if upload.status == DirectUploadStatus.WAITING and upload.claimed_at is None:
            expires_at = int(upload.expires_at.timestamp())
            token = self.signer.direct_upload(upload.tenant_id, upload.id, expires_at)
            url = f"{self.base}/v1/uploads/direct/{token}"
        timeout = int((upload.expires_at - upload.created_at).total_seconds())
        return DirectUploadOut(
            id=upload.id,
            status=upload.status,
            url=url,
            video_id=upload.video_id,
            upload_id=upload.upload_id,
            new_video=upload.new_video or {},
            timeout=timeout,
            expires_at=upload.expires_at,
            created_at=upload.created_at,
        )
