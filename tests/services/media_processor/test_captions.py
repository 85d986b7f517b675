"""Captions on both backends: SRT, WebVTT and JSON files from a transcript document (read back
by ``srt`` and ``webvtt-py``, limits held, speaker labels), invalid transcripts refused, and
burn-in jobs: the output keeps the source's length and its frames differ from the source's
where a cue is shown and only there (decoded with PyAV); charged like a transcode; scopes
and tenancy."""

from __future__ import annotations

import asyncio
import io
import itertools
import uuid
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import srt
import webvtt

from v100 import media
from v100.kit.auth import Principal
from v100.kit.testing.http import auth_headers
from v100.media.testing import make_broken, make_video

from .support import MediaApp, new_tenant

# One app per backend for the module (conftest.py): its tests run on the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")

TEXT = (
    "Good morning everyone and welcome to the quarterly review of the platform team. "
    "Today we look at the numbers and the plans for next year."
)
WORDS = TEXT.split()


def transcript(words: list[str] = WORDS, *, every: float = 0.35, start: float = 0.5,
               duration: float = 10.0, speakers: bool = True) -> dict[str, Any]:  # fmt: skip
    items = []
    for number, word in enumerate(words):
        at = start + number * every
        speaker = (0 if number < len(words) // 2 else 1) if speakers else None
        items.append({"word": word, "start": round(at, 3), "end": round(at + every * 0.8, 3),
                      "confidence": 0.95, "speaker": speaker})  # fmt: skip
    half = len(items) // 2
    segments = [
        {"text": " ".join(w["word"] for w in part), "start": part[0]["start"],
         "end": part[-1]["end"], "speaker": part[0]["speaker"], "words": part}
        for part in (items[:half], items[half:])
    ]  # fmt: skip
    return {"language": "en", "duration": duration, "text": " ".join(words), "segments": segments}


async def post_captions(mp: MediaApp, tenant: str, body: dict[str, Any]) -> Any:
    return await mp.http.post("/v1/captions", json=body, headers=mp.headers(tenant))


async def test_srt_reads_back_within_the_limits_with_speaker_labels(mp: MediaApp) -> None:
    tenant = new_tenant()
    answer = await post_captions(mp, tenant, {
        "transcript": transcript(), "format": "srt", "speaker_labels": True,
        "limits": {"max_chars_per_line": 32, "max_lines": 2, "max_duration": 4},
    })  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-subrip")
    subtitles = list(srt.parse(answer.text))
    assert len(subtitles) >= 3
    shown = []
    for sub in subtitles:
        lines = sub.content.split("\n")
        assert len(lines) <= 2
        assert lines[0].startswith(("[Speaker 1] ", "[Speaker 2] "))
        assert all(len(line) <= 32 for line in lines)
        assert (sub.end - sub.start).total_seconds() <= 4
        shown += sub.content.replace("[Speaker 1] ", "").replace("[Speaker 2] ", "").split()
    assert shown == WORDS
    assert all(a.end <= b.start for a, b in itertools.pairwise(subtitles))
    assert subtitles[-1].end.total_seconds() <= 10.0
    # Speaker 2 starts a cue of its own.
    first_of_two = WORDS[len(WORDS) // 2]
    assert any(s.content.startswith(f"[Speaker 2] {first_of_two}") for s in subtitles)


async def test_vtt_and_json_carry_the_same_cues(mp: MediaApp) -> None:
    tenant = new_tenant()
    body: dict[str, Any] = {"transcript": transcript(), "speaker_labels": True}
    vtt_answer = await post_captions(mp, tenant, {**body, "format": "vtt"})
    json_answer = await post_captions(mp, tenant, {**body, "format": "json"})
    srt_answer = await post_captions(mp, tenant, {**body, "format": "srt"})
    assert vtt_answer.status_code == json_answer.status_code == 200
    assert vtt_answer.headers["content-type"].startswith("text/vtt")
    assert json_answer.headers["content-type"].startswith("application/json")
    captions = webvtt.from_buffer(io.StringIO(vtt_answer.text)).captions
    cues = json_answer.json()["cues"]
    plain = list(srt.parse(srt_answer.text))
    assert len(captions) == len(cues) == len(plain)
    for caption, cue, sub in zip(captions, cues, plain, strict=True):
        assert caption.start_in_seconds == int(cue["start"])
        assert caption.voice == cue["label"]
        assert caption.text.split("\n") == cue["lines"]
        assert sub.content == f"[{cue['label']}] " + "\n".join(cue["lines"])
        assert sub.start.total_seconds() == cue["start"]
        assert sub.end.total_seconds() == cue["end"]
        assert all(len(line) <= 42 for line in cue["lines"])
    assert {cue["label"] for cue in cues} == {"Speaker 1", "Speaker 2"}
    assert json_answer.json()["language"] == "en"


@pytest.mark.parametrize(
    "broken",
    [
        {"duration": -1, "segments": []},
        {
            "duration": 3,
            "segments": [
                {"text": "x", "start": 0, "end": 1, "words": [{"word": "x", "start": 0, "end": 1}]}
            ],
        },  # no confidence
        {"duration": 3, "segments": [], "surprise": 1},
        "not a document",
    ],
)
async def test_an_invalid_transcript_is_422(mp: MediaApp, broken: Any) -> None:
    answer = await post_captions(mp, new_tenant(), {"transcript": broken, "format": "srt"})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_limits_and_format_are_validated(mp: MediaApp) -> None:
    tenant = new_tenant()
    for body in ({"format": "ass"}, {"limits": {"max_chars_per_line": 5}},
                 {"limits": {"min_duration": 8, "max_duration": 4}}):  # fmt: skip
        answer = await post_captions(mp, tenant, {"transcript": transcript(), **body})
        assert answer.status_code == 422, (body, answer.text)


async def test_scopes(mp: MediaApp, small_video: bytes) -> None:
    tenant = new_tenant()
    reader = auth_headers(mp.app, Principal(tenant_id=tenant, user_id="u", scopes=frozenset(
        {"media:read"})))  # fmt: skip
    nobody = auth_headers(mp.app, Principal(tenant_id=tenant, user_id="u", scopes=frozenset(
        {"videos:read"})))  # fmt: skip
    body = {"transcript": transcript(), "format": "srt"}
    assert (await mp.http.post("/v1/captions", json=body, headers=reader)).status_code == 200
    assert (await mp.http.post("/v1/captions", json=body, headers=nobody)).status_code == 403
    burn = {"input": "clip.mp4", "transcript": transcript()}
    refused = await mp.http.post("/v1/captions/burn-in", json=burn,
                                 headers={**reader, "Idempotency-Key": "k1"})  # fmt: skip
    assert refused.status_code == 403


# -- burn-in ------------------------------------------------------------------------------


def frame_at(path: Path, seconds: float) -> np.ndarray:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= seconds - 0.02:
                return frame.to_ndarray(format="rgb24").astype(np.int16)
    raise AssertionError(f"no frame at {seconds} s in {path}")


@pytest.fixture(scope="session")
def plain_video(media_dir: Path) -> Path:
    """6 s of a still grey 480x270 picture with a tone: any change is the captions'."""
    return make_video(media_dir / "plain.mp4", seconds=6, width=480, height=270, fps=25,
                      picture="color=c=gray")  # fmt: skip


async def burn(mp: MediaApp, tenant: str, body: dict[str, Any]) -> Any:
    return await mp.http.post(
        "/v1/captions/burn-in", json=body,
        headers=mp.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )  # fmt: skip


@pytest.mark.slow
async def test_captions_are_burnt_in_where_cues_are_shown(
    mp: MediaApp, plain_video: Path, tmp_path: Path
) -> None:
    tenant = new_tenant()
    available, _ = await mp.balance(tenant)
    data = await asyncio.to_thread(plain_video.read_bytes)
    assert (await mp.put_input(tenant, "clip.mp4", data)).status_code == 200
    words = ["Captions", "burnt", "into", "the", "picture"]
    doc = transcript(words, every=0.4, start=1.0, duration=6.0, speakers=False)
    created = await burn(mp, tenant, {
        "input": "clip.mp4", "transcript": doc, "speaker_labels": False,
        "style": {"font_size": 28, "colour": "#FFFF00", "outline": 2, "position": "bottom",
                  "margin": 20},
    })  # fmt: skip
    assert created.status_code == 202, created.text
    assert created.json()["operation"] == "burn_captions"
    assert "transcript" not in created.json()["params"]
    job = await mp.wait(tenant, created.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["result"] == {"cues": 1}
    assert job["output"]["duration"] == pytest.approx(6.0, abs=0.1)
    out = tmp_path / job["download"]["filename"]
    out.write_bytes(await mp.fetch(job["download"]["url"]))
    assert out.suffix == ".mp4"
    info = await media.probe(out)
    assert info.duration == pytest.approx((await media.probe(plain_video)).duration, abs=0.1)

    # The cue is shown from 1.0 s to 3.0 s (five words, 0.4 s apart; stretched to the minimum).
    bottom = slice(160, 270)
    shown = np.abs(frame_at(out, 2.0)[bottom] - frame_at(plain_video, 2.0)[bottom])
    hidden = np.abs(frame_at(out, 4.5)[bottom] - frame_at(plain_video, 4.5)[bottom])
    assert shown.mean() > 5 * max(hidden.mean(), 0.5), (shown.mean(), hidden.mean())
    assert hidden.max() < 40  # re-encoding noise only
    # Top of the picture is untouched even while the cue shows.
    top = np.abs(frame_at(out, 2.0)[:100] - frame_at(plain_video, 2.0)[:100])
    assert top.mean() < 2

    # Charged as an encode: one started minute.
    assert job["credits_charged"] == 1
    assert await mp.balance(tenant) == (available - 1, 0)


@pytest.mark.slow
async def test_burn_in_of_corrupt_or_audio_only_media_fails_with_a_code(
    mp: MediaApp, media_dir: Path, quiet_tone: bytes
) -> None:
    tenant = new_tenant()
    broken = make_broken(media_dir / "broken-for-captions.mp4", "truncated_faststart")
    assert (await mp.put_input(tenant, "broken.mp4", broken.read_bytes())).status_code == 200
    assert (await mp.put_input(tenant, "tone.wav", quiet_tone, "audio/wav")).status_code == 200
    failures = {}
    for name in ("broken.mp4", "tone.wav"):
        created = await burn(mp, tenant, {"input": name, "transcript": transcript()})
        assert created.status_code == 202, created.text
        failures[name] = await mp.wait(tenant, created.json()["id"])
    assert failures["broken.mp4"]["status"] == "failed"
    assert failures["broken.mp4"]["error"]["type"] == "/problems/input-unreadable"
    assert failures["tone.wav"]["error"]["type"] == "/problems/input-no-video"
    assert all(job["credits_charged"] is None for job in failures.values())


async def test_burn_in_is_idempotent_and_tenant_scoped(mp: MediaApp, small_video: bytes) -> None:
    tenant, other = new_tenant(), new_tenant()
    assert (await mp.put_input(tenant, "clip.mp4", small_video)).status_code == 200
    body = {"input": "clip.mp4", "transcript": transcript(duration=3.0)}
    headers = mp.headers(tenant, **{"Idempotency-Key": "burn-1"})
    first = await mp.http.post("/v1/captions/burn-in", json=body, headers=headers)
    again = await mp.http.post("/v1/captions/burn-in", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    changed = await mp.http.post("/v1/captions/burn-in", json={**body, "speaker_labels": True},
                                 headers=headers)  # fmt: skip
    assert changed.status_code == 409
    # Another tenant's input does not exist for it; nor does the job.
    assert (await burn(mp, other, body)).status_code == 404
    job = await mp.http.get(f"/v1/media/jobs/{first.json()['id']}", headers=mp.headers(other))
    assert job.status_code == 404
    await mp.wait(tenant, first.json()["id"])
