"""The LLM's pass over the locally ranked highlights: one call for all of a video's highlights,
asking for the five text factors (the model reads the words, not the picture: ``visual`` stays
local), a title, a description and hashtags, as JSON this module validates entry by entry. An
entry that fails keeps its local scores, and the result says which and why; a reply that is not
the JSON asked for, or a call that fails, leaves every local score standing and says so."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from v100.ai.highlights._factors import Factor
from v100.ai.highlights._find import Highlight, weighted_total
from v100.ai.highlights._settings import TEXT_FACTORS, HighlightSettings
from v100.ai.llm import ChatModel, ChatOptions, LLMError, Message, Usage

__all__ = ["Refinement", "RefinementStatus", "refine_highlights"]

RefinementStatus = Literal["refined", "partial", "malformed", "failed"]

_MAX_TEXT = 6000
_FENCE = re.compile(r"^```(?:json)?\s*\n(.*)\n```$", re.DOTALL)
_HASHTAG = re.compile(r"^#?([^\W_][\w]{0,49})$")

SYSTEM = """You rate short clips cut from one video for how well they would do as standalone \
social videos, and write their titles. For each clip you get its number, its opening (the \
words said in its first seconds) and its full text. Rate each factor from 0 to 1, with a \
reason of one short sentence:
- hook: do the opening words make a viewer stay (a question, a bold claim, a number, \
speaking to the viewer)? Filler and throat-clearing score low.
- emotion: how much feeling the words carry (excitement, anger, humour, surprise).
- information: how much a viewer learns per second: facts, numbers, names, advice.
- narrative: does the clip stand alone as a complete thought, with no missing context at its \
start and no unfinished point at its end?
- relevance: how closely it matches the keywords given (or, without keywords, the video's \
main topic).
Then write a title (at most 80 characters), a description (one or two sentences, at most \
300 characters) and 3 to 6 hashtags.
Answer with JSON only, no prose around it, in exactly this form:
{"highlights": [{"index": 1, "hook": {"score": 0.8, "reason": "..."}, \
"emotion": {"score": 0.4, "reason": "..."}, "information": {"score": 0.7, "reason": "..."}, \
"narrative": {"score": 0.9, "reason": "..."}, "relevance": {"score": 0.6, "reason": "..."}, \
"title": "...", "description": "...", "hashtags": ["#...", "#..."]}]}"""


class _Rated(BaseModel):
    score: float = Field(ge=0, le=1)
    reason: str = Field(min_length=1, max_length=400)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    index: int
    hook: _Rated
    emotion: _Rated
    information: _Rated
    narrative: _Rated
    relevance: _Rated
    title: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=500)
    hashtags: list[str] = Field(min_length=1, max_length=10)

    @field_validator("hashtags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        found = []
        for tag in tags:
            match = _HASHTAG.match(tag.strip())
            if match is None:
                raise ValueError(f"not a hashtag: {tag[:60]!r}")
            found.append("#" + match.group(1))
        return list(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class Refinement:
    # Re-ranked by the new totals (ties to the earlier clip).
    highlights: list[Highlight]
    status: RefinementStatus
    # One line for each highlight left with its local scores, or for the whole reply.
    notes: tuple[str, ...]
    usage: Usage | None = None
    model: str | None = None


def _prompt(highlights: Sequence[Highlight], keywords: Sequence[str]) -> str:
    clips = [
        {"index": i, "seconds": round(h.duration, 1), "opening": h.opening,
         "text": h.text[:_MAX_TEXT]}
        for i, h in enumerate(highlights, start=1)
    ]  # fmt: skip
    asked = ", ".join(keywords) if keywords else "none given"
    return f"Keywords: {asked}\n\nClips:\n{json.dumps(clips, ensure_ascii=False, indent=1)}"


def _entries(text: str) -> list[object] | str:
    """The reply's list of entries, or why there is none."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return f"the reply is not JSON ({exc.msg} at character {exc.pos})"
    if not isinstance(data, dict) or not isinstance(data.get("highlights"), list):
        return 'the reply is JSON but not an object with a "highlights" list'
    return list(data["highlights"])


def _applied(highlight: Highlight, entry: _Entry, settings: HighlightSettings) -> Highlight:
    factors = []
    for factor in highlight.factors:
        if factor.name in TEXT_FACTORS:
            rated: _Rated = getattr(entry, factor.name)
            factor = Factor(
                factor.name, round(rated.score, 3), rated.reason.strip(), "llm", factor.score
            )
        factors.append(factor)
    refined = tuple(factors)
    return dataclasses.replace(
        highlight,
        factors=refined,
        score=weighted_total(refined, settings.weights),
        title=entry.title.strip(),
        description=entry.description.strip(),
        hashtags=tuple(entry.hashtags),
    )


def _ranked(highlights: list[Highlight]) -> list[Highlight]:
    ordered = sorted(highlights, key=lambda h: (-h.score, h.start, h.end))
    return [dataclasses.replace(h, rank=i) for i, h in enumerate(ordered, start=1)]


def refinement_messages(
    highlights: Sequence[Highlight], keywords: Sequence[str] = ()
) -> list[Message]:
    """What ``refine_highlights`` sends: a caller that pays for the tokens counts these first."""
    return [Message.system(SYSTEM), Message.user(_prompt(highlights, keywords))]


async def refine_highlights(
    highlights: Sequence[Highlight],
    chat: ChatModel,
    model: str,
    *,
    keywords: Sequence[str] = (),
    settings: HighlightSettings | None = None,
) -> Refinement:
    """``highlights`` (from ``find_highlights``) refined by ``chat``'s ``model``."""
    settings = settings or HighlightSettings()
    kept = list(highlights)
    if not kept:
        return Refinement([], "refined", ())
    messages = refinement_messages(kept, keywords)
    try:
        reply = await chat.complete(
            messages, ChatOptions(model=model, max_tokens=settings.llm_max_tokens)
        )
    except LLMError as exc:
        note = f"the {chat.provider} call failed ({type(exc).__name__}: {exc}); local scores stand"
        return Refinement(kept, "failed", (note[:500],))
    entries = _entries(reply.text)
    if isinstance(entries, str):
        note = f"{entries}; local scores stand"
        return Refinement(kept, "malformed", (note,), reply.usage, reply.model)
    notes = []
    done: set[int] = set()
    for position, raw in enumerate(entries, start=1):
        try:
            entry = _Entry.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "entry"
            notes.append(f"entry {position} of the reply is invalid ({where}: {first['msg']})")
            continue
        if not 1 <= entry.index <= len(kept) or entry.index in done:
            notes.append(f"entry {position} of the reply names no highlight left to refine")
            continue
        done.add(entry.index)
        kept[entry.index - 1] = _applied(kept[entry.index - 1], entry, settings)
    for index in range(1, len(kept) + 1):
        if index not in done:
            notes.append(f"highlight {highlights[index - 1].rank} keeps its local scores")
    status: RefinementStatus = (
        "refined" if len(done) == len(kept) else "partial" if done else "malformed"
    )
    return Refinement(_ranked(kept), status, tuple(notes), reply.usage, reply.model)
