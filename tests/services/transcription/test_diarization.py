"""Speakers in transcripts: a two-voice conversation (espeak-ng) transcribed by the local backend
gets speakers on its words and segments, utterances and paragraphs by default; ``diarize=false``
gets none; ``diarize=true`` where local diarization is off is 501 at once, and the default
quietly finds no speakers there. Deepgram is asked for speakers (or not) per transcript."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from v100.ai.asr import pcm_to_wav
from v100.ai.audio import load_pcm
from v100.ai.diarization import diarization_available
from v100.ai.testing import SpokenTurn, Voice, espeak_ng, make_conversation, speaker_accuracy
from v100.kit.testing.fakes.deepgram import FakeDeepgram, SpokenWord
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import serving
from v100.services.transcription.app import create_app
from v100.services.transcription.settings import TranscriptionSettings

from .support import TranscriptionApp, new_tenant

pytestmark = pytest.mark.slow

needs_extra = pytest.mark.skipif(
    not diarization_available(),
    reason="the diarization extra (resemblyzer, torch) is not installed",
)


@pytest.fixture(scope="session")
def conversation(media_dir: Path) -> tuple[bytes, list[SpokenTurn]]:
    """About 16 s: two clearly different espeak-ng voices taking turns (WAV)."""
    if espeak_ng() is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    path = media_dir / "conversation.wav"
    turns = make_conversation(
        path,
        [Voice("en-us+m3", pitch=40), Voice("en-us+f4", pitch=70)],
        [
            (0, "Good morning, did everyone get the agenda?"),
            (1, "Yes, I read it on the train this morning."),
            (0, "The first item is the release date."),
            (1, "Then we should move it by one week."),
        ],
    )
    return path.read_bytes(), turns


def _words(done: dict[str, Any]) -> list[dict[str, Any]]:
    return [word for segment in done["document"]["segments"] for word in segment["words"]]


@needs_extra
async def test_a_conversation_gets_speakers_utterances_and_paragraphs(
    ts: TranscriptionApp, conversation: tuple[bytes, list[SpokenTurn]]
) -> None:
    audio, truth = conversation
    done = await ts.transcribe(new_tenant(), audio)
    assert done["status"] == "completed", done
    assert done["diarize"] is True
    document = done["document"]
    words = _words(done)
    assert {word["speaker"] for word in words} == {0, 1}
    assert words[0]["speaker"] == 0
    spoken = [SpokenWord(w["word"], w["start"], w["end"], w["speaker"]) for w in words]
    assert speaker_accuracy(spoken, truth) >= 0.9
    assert all(segment["speaker"] in (0, 1) for segment in document["segments"])

    # Four turns with half-second pauses between them: an utterance and a paragraph each.
    utterances = document["utterances"]
    assert [u["speaker"] for u in utterances] == [0, 1, 0, 1]
    assert sum(u["num_words"] for u in utterances) == len(words)
    assert utterances[1]["text"].lower().startswith("yes")
    paragraphs = document["paragraphs"]
    assert [p["speaker"] for p in paragraphs] == [0, 1, 0, 1]
    assert [s["text"] for s in paragraphs[2]["sentences"]] == [utterances[2]["text"]]


@needs_extra
async def test_diarize_false_finds_no_speakers(
    ts: TranscriptionApp, conversation: tuple[bytes, list[SpokenTurn]]
) -> None:
    done = await ts.transcribe(new_tenant(), conversation[0], diarize="false")
    assert done["status"] == "completed", done
    assert done["diarize"] is False
    document = done["document"]
    assert {word["speaker"] for word in _words(done)} == {None}
    assert {segment["speaker"] for segment in document["segments"]} == {None}
    # Utterances and paragraphs are still there, cut at pauses only.
    assert document["utterances"]
    assert {u["speaker"] for u in document["utterances"]} == {None}
    assert {p["speaker"] for p in document["paragraphs"]} == {None}


async def test_without_local_diarization_diarize_true_is_not_configured(
    ts_settings: TranscriptionSettings, conversation: tuple[bytes, list[SpokenTurn]]
) -> None:
    """An installation without the extra, or with local diarization turned off, refuses a
    transcript that requires speakers (the same path: ``DIARIZER`` has no diarizer)."""
    settings = ts_settings.model_copy(update={"local_diarization": False})
    app = create_app(settings)
    async with running_app(app) as http:
        ts = TranscriptionApp(app=app, http=http, settings=settings, billing=settings.billing_url)
        tenant = new_tenant()
        refused = await ts.upload(tenant, conversation[0], diarize="true")
        assert refused.status_code == 501, refused.text
        assert refused.json()["type"].endswith("/not-configured")
        assert "diarization" in refused.json()["detail"]
        by_url = await ts.from_url(
            tenant, {"source": {"url": "https://example.org/talk.wav"}, "diarize": True}
        )
        assert by_url.status_code == 501, by_url.text
        listed = await ts.http.get("/v1/transcripts", headers=ts.headers(tenant))
        assert listed.json()["items"] == []

        done = await ts.transcribe(tenant, conversation[0])
    assert done["status"] == "completed", done
    assert done["diarize"] is False
    assert {word["speaker"] for word in _words(done)} == {None}


async def test_deepgram_is_asked_for_speakers_per_transcript(
    ts_settings: TranscriptionSettings, conversation: tuple[bytes, list[SpokenTurn]], tmp_path: Path
) -> None:
    source = tmp_path / "conversation.wav"
    source.write_bytes(conversation[0])
    pcm = await asyncio.to_thread(load_pcm, source)
    said = [
        SpokenWord("Good", 0.1, 0.4, speaker=0),
        SpokenWord("morning.", 0.45, 0.9, speaker=0),
        SpokenWord("Yes,", 3.4, 3.7, speaker=1),
        SpokenWord("indeed.", 3.75, 4.2, speaker=1),
    ]
    fake = FakeDeepgram(api_key="dg-test-key")
    fake.register(pcm_to_wav(pcm), said)
    async with serving(fake.app, lifespan="off") as url:
        settings = ts_settings.model_copy(
            update={"deepgram_api_key": SecretStr("dg-test-key"), "deepgram_api_url": url}
        )
        app = create_app(settings)
        async with running_app(app) as http:
            ts = TranscriptionApp(
                app=app, http=http, settings=settings, billing=settings.billing_url
            )
            tenant = new_tenant()
            with_speakers = await ts.transcribe(tenant, conversation[0], backend="deepgram")
            asked_with = fake.requests[-1].params["diarize"]
            without = await ts.transcribe(
                tenant, conversation[0], backend="deepgram", diarize="false"
            )
            asked_without = fake.requests[-1].params["diarize"]

    assert asked_with == "true"
    assert with_speakers["diarize"] is True
    assert [w["speaker"] for w in _words(with_speakers)] == [0, 0, 1, 1]
    document = with_speakers["document"]
    assert [(u["text"], u["speaker"]) for u in document["utterances"]] == [
        ("Good morning.", 0),
        ("Yes, indeed.", 1),
    ]
    assert [p["speaker"] for p in document["paragraphs"]] == [0, 1]

    assert asked_without == "false"
    assert without["diarize"] is False
    assert {w["speaker"] for w in _words(without)} == {None}
    assert [u["text"] for u in without["document"]["utterances"]] == [
        "Good morning.",
        "Yes, indeed.",
    ]
