"""The highlights stage: ``v100.ai.highlights`` fed from the analysis's stored results (cuts
from the scenes, face spans from the tracks, speech segments, the loudness and motion curves,
the transcript's document; what did not run is left unmeasured, not empty), then refined by
the operator's LLM when one is configured (else the local scores stand, and the result says
so). What it stores is ``schemas.HighlightsResult``: each highlight with an id (clips name
it), its time range, text, six factor scores with reasons and its weighted total."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from v100.ai.chunking import count_tokens
from v100.ai.highlights import (
    Curve,
    Cut,
    FaceSpan,
    Highlight,
    HighlightRequest,
    HighlightSettings,
    SpeechSpan,
    VideoSignals,
    faces_from_tracks,
    find_highlights,
    refine_highlights,
    refinement_messages,
)
from v100.ai.llm import Usage
from v100.contracts.transcripts import TranscriptDocument
from v100.kit.db import new_id
from v100.services.video_analysis import analysers
from v100.services.video_analysis.chat_model import open_chat_model
from v100.services.video_analysis.credits import TokenCharge
from v100.services.video_analysis.errors import AnalysisFailed
from v100.services.video_analysis.settings import VideoAnalysisSettings

__all__ = ["DEFAULT_OPTIONS", "highlights"]

DEFAULT_OPTIONS: dict[str, Any] = {"durations": [15.0, 60.0], "keywords": [], "count": 5}


def _curve(values: list[float], interval: float) -> Curve | None:
    return Curve(0.0, interval, tuple(values)) if values else None


def _signals(results: dict[str, dict[str, Any]], duration: float, height: int) -> VideoSignals:
    scenes, faces = results["scenes"], results.get("faces")
    speech, signals = results.get("speech"), results.get("signals")
    face_spans: tuple[FaceSpan, ...] | None = None
    if faces is not None:
        face_spans = faces_from_tracks(analysers.tracks(faces), height)
    return VideoSignals(
        duration=duration,
        cuts=tuple(Cut(b["time"], b["kind"]) for b in scenes["boundaries"]),
        faces=face_spans,
        speech=tuple(SpeechSpan(s["start"], s["end"]) for s in speech["segments"])
        if speech is not None
        else None,
        loudness=_curve(signals["loudness"], signals["interval"]) if signals else None,
        motion=_curve(signals["motion"], signals["interval"]) if signals else None,
    )


def _stored(highlight: Highlight) -> dict[str, Any]:
    return {
        "id": new_id(), "rank": highlight.rank, "start": highlight.start, "end": highlight.end,
        "duration": round(highlight.duration, 3), "score": highlight.score,
        "text": highlight.text, "opening": highlight.opening,
        "factors": [
            {"name": f.name, "score": f.score, "reason": f.reason, "source": f.source,
             "local_score": f.local_score}
            for f in highlight.factors
        ],
        "starts_at_cut": highlight.starts_at_cut, "ends_at_cut": highlight.ends_at_cut,
        "title": highlight.title, "description": highlight.description,
        "hashtags": list(highlight.hashtags),
    }  # fmt: skip


async def highlights(
    settings: VideoAnalysisSettings,
    results: dict[str, dict[str, Any]],
    options: dict[str, Any] | None,
    *,
    duration: float,
    height: int,
    charge: TokenCharge | None = None,
) -> dict[str, Any]:
    """The stage's result from the stored ``results`` of the stages before it. With an LLM,
    ``charge`` holds the call's credits first and captures its usage after (the tenant's
    credits not covering it: the local scores stand, and the result says so)."""
    asked = {**DEFAULT_OPTIONS, **(options or {})}
    shortest, longest = asked["durations"]
    request = HighlightRequest(
        count=asked["count"], min_duration=shortest, max_duration=longest,
        keywords=tuple(asked["keywords"]),
    )  # fmt: skip
    transcript = results.get("transcript")
    document = (
        TranscriptDocument.model_validate(transcript["document"])
        if transcript is not None
        else TranscriptDocument(duration=duration)
    )
    signals = _signals(results, duration, height)
    found = await asyncio.to_thread(lambda: find_highlights(document, signals, request))
    refinement: dict[str, Any] = {
        "status": "local", "model": None,
        "notes": ["no LLM is configured for video_analysis; the local scores stand"],
    }  # fmt: skip
    chat = open_chat_model(settings) if found else None
    if chat is not None:
        client, model = chat
        # The hold's bound: the prompt counted with cl100k (a tenth more, for the vendor's own
        # count) and the longest reply asked for.
        prompt = sum(
            count_tokens(m.content) + 4 for m in refinement_messages(found, request.keywords)
        )
        bound = Usage(math.ceil(prompt * 1.1) + 16, HighlightSettings().llm_max_tokens)
        held = charge.credits(bound) if charge is not None else 0
        try:
            hold_id = await charge.hold(held) if charge is not None else None
        except AnalysisFailed as exc:
            await client.aclose()
            if exc.slug != "insufficient-credits":
                raise
            note = f"not refined: {exc.detail}; the local scores stand"
            refinement = {"status": "local", "model": None, "notes": [note]}
            chat = None
    if chat is not None:
        try:
            refined = await refine_highlights(found, client, model, keywords=request.keywords)
        finally:
            await client.aclose()
        found = refined.highlights
        named = f"{client.provider}/{refined.model or model}"
        usage = refined.usage
        charged = 0
        if charge is not None:
            amount = None if usage is None else min(held, charge.credits(usage))
            charged = await charge.settle(hold_id, amount)
        refinement = {
            "status": refined.status, "model": named, "notes": list(refined.notes),
            "tokens": {"input": usage.input_tokens, "output": usage.output_tokens}
            if usage is not None else None,
            "credits": charged,
        }  # fmt: skip
    return {
        "durations": [shortest, longest], "keywords": list(request.keywords),
        "count": request.count, "transcript": transcript is not None,
        "refinement": refinement, "items": [_stored(h) for h in found],
    }  # fmt: skip
