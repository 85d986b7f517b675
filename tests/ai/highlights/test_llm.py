"""The LLM pass over ranked highlights, against the local fakes of Anthropic's Messages API
and OpenAI's Chat Completions with scripted replies: valid JSON refines the five text factors
(the local scores kept beside them; ``visual`` untouched), writes titles, descriptions and
hashtags and re-ranks; malformed output, an invalid entry or a failed call leaves the local
scores standing and says so."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from v100.ai.highlights import (
    TEXT_FACTORS,
    Highlight,
    HighlightRequest,
    VideoSignals,
    find_highlights,
    refine_highlights,
)
from v100.ai.llm import AnthropicChat, OpenAIChat
from v100.kit.testing.fakes.anthropic import AnthropicFake
from v100.kit.testing.fakes.openai import OpenAIFake
from v100.kit.testing.servers import serving

from .support import spoken

KEY = "sk-ant-test"
MODEL = "claude-sonnet-4-5"
TALK = [
    ["We started the project in March.", "It took a while to find the first users."],
    ["Why do ninety percent of new products fail?", "Nobody talks to customers."],
]


@pytest.fixture
def ranked() -> list[Highlight]:
    document = spoken(TALK)
    request = HighlightRequest(count=2, min_duration=3, max_duration=20)
    found = find_highlights(document, VideoSignals(duration=document.duration), request)
    assert [h.text[:3] for h in found] == ["Why", "We "]
    return found


@pytest.fixture
async def anthropic() -> AsyncIterator[tuple[AnthropicFake, AnthropicChat]]:
    fake = AnthropicFake(api_key=KEY)
    async with serving(fake.app, lifespan="off") as url:
        chat = AnthropicChat(KEY, base_url=url, max_retries=0)
        yield fake, chat
        await chat.aclose()


def _rated(score: float) -> dict[str, Any]:
    return {"score": score, "reason": f"rated {score}"}


def _entry(index: int, score: float, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {name: _rated(score) for name in TEXT_FACTORS}
    entry |= {
        "index": index,
        "title": f"Clip {index}",
        "description": f"What clip {index} says.",
        "hashtags": ["#startups", "customers", "#startups"],
    }
    return entry | extra


async def test_valid_json_refines_the_text_factors_and_writes_titles(
    anthropic: tuple[AnthropicFake, AnthropicChat], ranked: list[Highlight]
) -> None:
    fake, chat = anthropic
    # The model prefers the story (clip 2) to the question (clip 1): the order follows.
    fake.reply(json.dumps({"highlights": [_entry(1, 0.2), _entry(2, 0.9)]}), usage=(900, 300))
    result = await refine_highlights(ranked, chat, MODEL, keywords=["customers"])
    assert result.status == "refined"
    assert result.notes == ()
    assert result.usage is not None
    assert (result.usage.input_tokens, result.usage.output_tokens) == (900, 300)
    first, second = result.highlights
    assert (first.rank, first.text[:3], first.title) == (1, "We ", "Clip 2")
    assert (second.rank, second.text[:3]) == (2, "Why")
    assert first.description == "What clip 2 says."
    assert first.hashtags == ("#startups", "#customers")
    for name in TEXT_FACTORS:
        factor = first.factor(name)
        assert (factor.score, factor.source, factor.reason) == (0.9, "llm", "rated 0.9")
        assert factor.local_score == ranked[1].factor(name).score
    assert first.factor("visual") == ranked[1].factor("visual")
    assert first.score > second.score
    sent = fake.requests[-1].body
    assert sent["model"] == MODEL
    assert "Answer with JSON only" in sent["system"]
    prompt = sent["messages"][0]["content"]
    prompt = prompt if isinstance(prompt, str) else prompt[0]["text"]
    assert "Keywords: customers" in prompt
    assert "Why do ninety percent of new products fail?" in prompt


async def test_a_fenced_json_block_is_read(
    anthropic: tuple[AnthropicFake, AnthropicChat], ranked: list[Highlight]
) -> None:
    fake, chat = anthropic
    body = json.dumps({"highlights": [_entry(1, 0.5), _entry(2, 0.5)]})
    fake.reply(f"```json\n{body}\n```")
    result = await refine_highlights(ranked, chat, MODEL)
    assert result.status == "refined"


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("Here are my ratings: clip 1 is great.", "the reply is not JSON"),
        (json.dumps([_entry(1, 0.5)]), 'not an object with a "highlights" list'),
        (json.dumps({"highlights": [{"index": 1, "hook": 0.5}]}), "invalid"),
    ],
)
async def test_malformed_output_leaves_the_local_scores_and_says_so(
    anthropic: tuple[AnthropicFake, AnthropicChat],
    ranked: list[Highlight],
    reply: str,
    why: str,
) -> None:
    fake, chat = anthropic
    fake.reply(reply)
    result = await refine_highlights(ranked, chat, MODEL)
    assert result.status == "malformed"
    assert result.highlights == ranked
    assert any(why in note for note in result.notes)
    assert all(h.title is None for h in result.highlights)


async def test_one_invalid_entry_keeps_its_highlight_local_and_the_others_refined(
    anthropic: tuple[AnthropicFake, AnthropicChat], ranked: list[Highlight]
) -> None:
    fake, chat = anthropic
    bad = _entry(2, 0.5, emotion={"score": 1.5, "reason": "off the scale"})
    fake.reply(json.dumps({"highlights": [_entry(1, 0.8), bad, _entry(7, 0.5)]}))
    result = await refine_highlights(ranked, chat, MODEL)
    assert result.status == "partial"
    assert result.notes == (
        "entry 2 of the reply is invalid (emotion.score: Input should be less than or equal to 1)",
        "entry 3 of the reply names no highlight left to refine",
        "highlight 2 keeps its local scores",
    )
    refined = next(h for h in result.highlights if h.text.startswith("Why"))
    local = next(h for h in result.highlights if h.text.startswith("We "))
    assert refined.title == "Clip 1"
    assert local == next(h for h in ranked if h.text.startswith("We "))


async def test_a_failed_call_leaves_the_local_scores(
    anthropic: tuple[AnthropicFake, AnthropicChat], ranked: list[Highlight]
) -> None:
    fake, chat = anthropic
    fake.fail_next(1, status=529)
    result = await refine_highlights(ranked, chat, MODEL)
    assert result.status == "failed"
    assert result.highlights == ranked
    assert "anthropic call failed (LLMUnavailable" in result.notes[0]


async def test_the_openai_provider_refines_the_same_way(ranked: list[Highlight]) -> None:
    fake = OpenAIFake(api_key="sk-test")
    fake.reply(json.dumps({"highlights": [_entry(1, 0.7), _entry(2, 0.6)]}))
    async with serving(fake.app, lifespan="off") as url:
        chat = OpenAIChat("sk-test", base_url=url + "/v1", max_retries=0)
        result = await refine_highlights(ranked, chat, "gpt-4.1-mini")
        await chat.aclose()
    assert result.status == "refined"
    assert [h.title for h in result.highlights] == ["Clip 1", "Clip 2"]
    sent = fake.requests[-1].body
    assert sent["messages"][0]["role"] == "system"
    assert sent["max_completion_tokens"] == 3000
