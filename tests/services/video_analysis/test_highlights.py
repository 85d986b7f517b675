"""The highlights stage on the talking-heads video, both backends, transcription away (so the
clips run from scene boundary to boundary): asked for, it plans the stages it reads, stores
non-overlapping highlights ranked by their total, each with its six factors and reasons, and
says the local scores stand without an LLM. With an LLM configured (the local fake of
Anthropic's Messages API) the text factors, title, description and hashtags come from it, and
the tenant pays its tokens through a credit hold captured on the usage the vendor reported.
Options without their stage, or durations the wrong way round, are refused."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from pydantic import SecretStr

from tests.support.billed import Backend
from v100.kit.testing.fakes.anthropic import AnthropicFake
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import serving
from v100.services.video_analysis.app import create_app

from .support import AnalysisApp, Stack, Talk, new_tenant

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

FACTORS = ["hook", "emotion", "information", "narrative", "visual", "relevance"]
OPTIONS = {"durations": [1.0, 30.0], "keywords": ["planning"], "count": 3}


@pytest_asyncio.fixture(loop_scope="module")  # the fake serves on the test's (the module's) loop
async def anthropic() -> AsyncIterator[tuple[AnthropicFake, str]]:
    fake = AnthropicFake(api_key="sk-ant-test")
    async with serving(fake.app, lifespan="off") as url:
        yield fake, url


async def test_highlights_are_ranked_with_their_six_factors(stack: Stack, talk: Talk) -> None:
    va, tenant = stack.va, new_tenant()
    video = await stack.ready_video(tenant, talk.path)
    body = {"video_id": video["id"], "stages": ["highlights"], "highlights": OPTIONS}
    created = await va.create(tenant, body)
    assert created.status_code == 202, created.text
    analysis = created.json()
    assert analysis["stages"] == [
        "scenes", "faces", "speech", "signals", "transcript", "highlights"
    ]  # fmt: skip
    assert analysis["highlights"] == OPTIONS
    done = await va.wait(tenant, analysis["id"])
    assert done["status"] == "completed", done
    assert done["progress"]["transcript"]["status"] == "skipped"
    assert done["progress"]["highlights"]["status"] == "completed"

    answer = await va.get(tenant, f"/v1/analyses/{done['id']}/highlights")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["transcript"] is False
    assert result["refinement"]["status"] == "local"
    assert "no LLM" in result["refinement"]["notes"][0]
    items = result["items"]
    assert 1 <= len(items) <= 3
    assert [item["rank"] for item in items] == list(range(1, len(items) + 1))
    assert [item["score"] for item in items] == sorted((i["score"] for i in items), reverse=True)
    for item in items:
        assert 1.0 <= item["duration"] <= 30.0
        assert 0.0 <= item["start"] < item["end"] <= talk.duration + 0.1
        assert [f["name"] for f in item["factors"]] == FACTORS
        assert all(f["reason"] and f["source"] == "local" for f in item["factors"])
        assert item["title"] is None
        assert item["hashtags"] == []
    spans = sorted((item["start"], item["end"]) for item in items)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    # Without words, clips run from scene boundary to boundary (the cut after the intro).
    scenes = (await va.get(tenant, f"/v1/analyses/{done['id']}/scenes")).json()
    edges = [0.0, *(b["time"] for b in scenes["boundaries"]), done["duration"]]
    for item in items:
        assert min(abs(item["start"] - edge) for edge in edges) < 0.01, (item, edges)
        assert min(abs(item["end"] - edge) for edge in edges) < 0.01, (item, edges)

    other = await va.get(new_tenant(), f"/v1/analyses/{done['id']}/highlights")
    assert other.status_code == 404


async def test_options_need_their_stage_and_ordered_durations(stack: Stack) -> None:
    va, tenant = stack.va, new_tenant()
    without = await va.create(tenant, {"video_id": "v", "stages": ["scenes"], "highlights": {}})
    assert without.status_code == 422, without.text
    backwards = {"video_id": "v", "stages": ["highlights"], "highlights": {"durations": [60, 15]}}
    assert (await va.create(tenant, backwards)).status_code == 422


async def test_an_llm_refines_the_text_factors_and_writes_titles(
    stack: Stack, module_backend: Backend, talk: Talk, anthropic: tuple[AnthropicFake, str]
) -> None:
    if module_backend.name != "embedded":
        pytest.skip("the refinement's logic does not depend on the backend")
    fake, url = anthropic
    settings = stack.va.settings.model_copy(update={
        "llm_provider": "anthropic", "llm_api_key": SecretStr("sk-ant-test"),
        "llm_base_url": url, "llm_model": "claude-test",
    })  # fmt: skip
    rated = {"score": 0.9, "reason": "A strong line."}
    fake.reply(json.dumps({"highlights": [{
        "index": 1, "hook": rated, "emotion": rated, "information": rated, "narrative": rated,
        "relevance": rated, "title": "Two heads plan the day",
        "description": "How to plan a day in minutes.", "hashtags": ["planning", "#work"],
    }]}), usage=(1500, 300))  # fmt: skip
    app = create_app(settings)
    async with running_app(app) as http:
        va = AnalysisApp(app=app, http=http, settings=settings, billing=stack.va.billing)
        tenant = new_tenant()
        video = await stack.ready_video(tenant, talk.path)
        available, _ = await va.balance(tenant)
        options = {**OPTIONS, "count": 1}
        body = {"video_id": video["id"], "stages": ["highlights"], "highlights": options}
        created = await va.create(tenant, body)
        done = await va.wait(tenant, created.json()["id"])
        assert done["status"] == "completed", done
        result = (await va.get(tenant, f"/v1/analyses/{done['id']}/highlights")).json()
        # The tokens are the tenant's: 1.5k read at 1 and 0.3k written at 4 credits per 1k.
        tokens_paid = 3
        assert await va.balance(tenant) == (available - done["credits_charged"] - tokens_paid, 0)
    assert result["refinement"] == {
        "status": "refined", "model": "anthropic/claude-test", "notes": [],
        "tokens": {"input": 1500, "output": 300}, "credits": tokens_paid,
    }  # fmt: skip
    (item,) = result["items"]
    assert item["title"] == "Two heads plan the day"
    assert item["hashtags"] == ["#planning", "#work"]
    factors = {f["name"]: f for f in item["factors"]}
    assert factors["hook"]["source"] == "llm"
    assert factors["hook"]["score"] == 0.9
    assert factors["hook"]["local_score"] is not None
    assert factors["visual"]["source"] == "local"
