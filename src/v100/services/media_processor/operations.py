"""The operations a media job runs on a probed local input, each writing one output file:
transcode to a platform spec (checked against that spec afterwards), EBU R128 loudness
normalization, audio resampling, audio extraction, a thumbnail, and captions burnt into the
picture. No storage, no database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from v100 import media
from v100.contracts.transcripts import TranscriptDocument
from v100.media.audio import resample_audio
from v100.media.captions import render_srt
from v100.media.mp4 import spec_duration
from v100.services.media_processor.errors import JobFailed

__all__ = ["Output", "run_operation", "transcode_seconds"]

# Holds the credits for ``seconds`` of output (a transcode), before any encoding.
Reserve = Callable[[float], Awaitable[None]]

# Video codecs an MP4 carries; another picture (VP8, Theora, ...) is kept in Matroska.
_MP4_VIDEO = {"h264", "hevc", "av1", "vp9", "mpeg4"}
_AUDIO_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "m4a": "audio/mp4", "opus": "audio/ogg"}


@dataclass(frozen=True, slots=True)
class Output:
    path: Path
    content_type: str
    result: dict[str, Any] = field(default_factory=dict)


def transcode_seconds(info: media.MediaInfo, spec: media.PlatformSpec) -> float:
    """The output length a transcode makes (the platform's maximum cuts longer inputs)."""
    return min(info.duration, spec_duration(spec))


def _loudness(value: media.Loudness) -> dict[str, float]:
    return {
        "integrated": round(value.integrated, 2),
        "true_peak": round(value.true_peak, 2),
        "range": round(value.range, 2),
    }


async def run_operation(
    operation: str,
    params: dict[str, Any],
    source: Path,
    info: media.MediaInfo,
    out_dir: Path,
    stem: str,
    *,
    on_progress: media.ProgressCallback,
    reserve: Reserve,
) -> Output:
    """Run ``operation`` with its validated ``params``; ``MediaError`` or ``JobFailed`` on bad
    input."""
    if operation == "transcode":
        spec = media.PLATFORM_SPECS[params["platform"]]
        if info.video is None:
            raise JobFailed(
                "input-no-video",
                f"the input has no video stream: a {spec.name} transcode needs a picture",
            )
        await reserve(transcode_seconds(info, spec))
        dst = out_dir / f"{stem}-{spec.name}.mp4"
        await media.encode_mp4(
            source, dst, info, spec=spec, fit=params.get("fit", "crop"), on_progress=on_progress
        )
        problems = media.check_against(await media.probe(dst), spec)
        return Output(dst, "video/mp4", {"platform": spec.name, "spec_problems": problems})
    if operation == "normalize_audio":
        targets = {k: params[k] for k in ("target_i", "target_tp", "target_lra") if k in params}
        before = await media.measure_loudness(source, info=info, **targets)
        if info.video is None:
            dst = out_dir / f"{stem}-normalized.m4a"
            content_type = "audio/mp4"
        elif info.video.codec in _MP4_VIDEO:
            dst, content_type = out_dir / f"{stem}-normalized.mp4", "video/mp4"
        else:
            dst, content_type = out_dir / f"{stem}-normalized.mkv", "video/x-matroska"
        await media.normalize_loudness(
            source, dst, info, measured=before, on_progress=on_progress, **targets
        )
        after = await media.measure_loudness(dst, **targets)
        return Output(
            dst,
            content_type,
            {"target": targets, "before": _loudness(before), "after": _loudness(after)},
        )
    if operation == "resample_audio":
        extension = params.get("format", "wav")
        dst = out_dir / f"{stem}-{params['sample_rate']}.{extension}"
        await resample_audio(
            source,
            dst,
            info,
            sample_rate=params["sample_rate"],
            channels=params.get("channels"),
            on_progress=on_progress,
        )
        return Output(dst, _AUDIO_TYPES[extension])
    if operation == "extract_audio":
        dst = out_dir / f"{stem}.m4a"
        await media.extract_audio(source, dst, info, on_progress=on_progress)
        return Output(dst, "audio/mp4")
    if operation == "thumbnail":
        dst = out_dir / f"{stem}.jpg"
        at = float(params.get("at", 5.0))
        await media.poster(source, dst, info, at=at, width=params.get("width"))
        return Output(dst, "image/jpeg", {"at": round(media.poster_time(info, at), 3)})
    if operation == "burn_captions":
        return await _burn_captions(params, source, info, out_dir, stem, on_progress, reserve)
    raise ValueError(f"unknown operation {operation!r}")


async def _burn_captions(
    params: dict[str, Any],
    source: Path,
    info: media.MediaInfo,
    out_dir: Path,
    stem: str,
    on_progress: media.ProgressCallback,
    reserve: Reserve,
) -> Output:
    """The transcript's cues as an SRT file drawn on the picture (an encode: credits held for
    the input's length first, as a transcode's)."""
    if info.video is None:
        raise JobFailed("input-no-video", "the input has no video stream to burn captions into")
    transcript = TranscriptDocument.model_validate(params["transcript"])
    labels = bool(params.get("speaker_labels", False))
    cues = media.build_cues(transcript, media.CaptionLimits(**params["limits"]),
                            speaker_labels=labels)  # fmt: skip
    subtitles = out_dir.parent / "captions.srt"
    subtitles.write_text(render_srt(cues, speaker_labels=labels), encoding="utf-8")
    await reserve(info.duration)
    dst = out_dir / f"{stem}-captioned.mp4"
    await media.burn_captions(
        source, dst, info, subtitles, style=media.CaptionStyle(**params["style"]),
        on_progress=on_progress,
    )  # fmt: skip
    return Output(dst, "video/mp4", {"cues": len(cues)})
