"""Audio resampling: ``resample_audio`` writes the first audio track at another sample rate and
channel count (speech models want 16 kHz mono; video editors 48 kHz stereo), in the codec the
output's suffix names."""

from __future__ import annotations

from pathlib import Path

from v100.media._encoding import check_complete, require_audio, run_timeout
from v100.media._ffmpeg import ProgressCallback, input_args, run_ffmpeg
from v100.media.probe import MediaInfo

__all__ = [
    "AUDIO_FORMATS",
    "MAX_CHANNELS",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "OPUS_SAMPLE_RATES",
    "resample_audio",
]

# Output suffix -> codec arguments.
AUDIO_FORMATS: dict[str, list[str]] = {
    ".wav": ["-c:a", "pcm_s16le", "-f", "wav"],
    ".flac": ["-c:a", "flac", "-f", "flac"],
    ".m4a": ["-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart", "-f", "ipod"],
    ".opus": ["-c:a", "libopus", "-b:a", "96k", "-f", "opus"],
}
# Opus codes these rates only.
OPUS_SAMPLE_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 192_000
MAX_CHANNELS = 8


async def resample_audio(
    src: str | Path,
    dst: str | Path,
    info: MediaInfo,
    *,
    sample_rate: int,
    channels: int | None = None,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - bounded FFmpeg run, FFmpegTimedOut
) -> Path:
    """The first audio track of ``src`` at ``sample_rate`` Hz with ``channels`` channels (None:
    as the source; FFmpeg down- or upmixes), as WAV (16-bit PCM), FLAC, M4A
    (AAC) or Opus by ``dst``'s suffix. ``UnsupportedMedia`` without an audio track;
    ``ValueError`` for a rate, channel count or suffix the output cannot carry."""
    require_audio(info)
    assert info.audio is not None
    dst = Path(dst)
    codec = AUDIO_FORMATS.get(dst.suffix.lower())
    if codec is None:
        raise ValueError(f"no audio format for {dst.suffix!r}; one of {', '.join(AUDIO_FORMATS)}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(f"sample rate must be {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    if dst.suffix.lower() == ".opus" and sample_rate not in OPUS_SAMPLE_RATES:
        raise ValueError(f"Opus takes {', '.join(map(str, OPUS_SAMPLE_RATES))} Hz only")
    if dst.suffix.lower() == ".m4a" and sample_rate > 96_000:
        raise ValueError("AAC takes at most 96000 Hz")
    if channels is not None and not 1 <= channels <= MAX_CHANNELS:
        raise ValueError(f"channels must be 1-{MAX_CHANNELS}")
    args = [*input_args(src), "-map", "0:a:0", "-vn", "-sn", "-dn"]
    # The resampler first (gaps in a recording filled, so the length is kept), then the rate
    # and layout the encoder is told to write.
    args += ["-af", f"aresample={sample_rate}:async=1:first_pts=0", "-ar", str(sample_rate)]
    if channels is not None:
        args += ["-ac", str(channels)]
    args += ["-map_metadata", "-1", *codec, str(dst)]
    await run_ffmpeg(
        args,
        duration=info.duration,
        on_progress=on_progress,
        timeout=timeout if timeout is not None else run_timeout(info.duration, per_second=2),
    )
    await check_complete(dst, expected=info.duration)
    return dst
