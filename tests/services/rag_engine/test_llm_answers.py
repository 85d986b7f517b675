"""/v1/rag with an LLM configured (the local fake of Anthropic's Messages API), on both
backends with the real MiniLM and the real billing app: the model is given the numbered
passages and the question; its [n] markers become citations to the passages (document,
position, heading path), numbers it invents are taken out and reported; its tokens are
charged as credits. ``"stream": true`` answers Server-Sent Events (passages, delta,
citations, done), with an error event when the provider fails mid-way (the extractive
answer streamed as the same events: test_search.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from pydantic import SecretStr

from tests.support.billed import BACKENDS, SharedBilling
from tests.support.vendor_servers import VendorServers, vendor_servers
from v100.kit.testing.fakes.anthropic import AnthropicFake

from .conftest import module_app
from .support import RagApp, new_tenant, sse
from .test_search import QUESTION, library

# One app per backend for the module, with the LLM, and one fake Anthropic server, on the
# module's loop; each test has its own tenants and its own fake. (Without an LLM: test_search.)
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def anthropic_server() -> AsyncIterator[VendorServers]:
    async with vendor_servers("anthropic") as servers:
        yield servers


@pytest.fixture
def anthropic(anthropic_server: VendorServers) -> tuple[AnthropicFake, str]:
    """A fake of this test's own (its replies, failures and requests), at the module's URL."""
    fake = AnthropicFake(api_key="sk-ant-test")
    anthropic_server.plug(anthropic=fake.app)
    return fake, anthropic_server.urls["anthropic"]


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def shared_with_llm(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_billing: SharedBilling,
    anthropic_server: VendorServers,
) -> AsyncIterator[RagApp]:
    async with module_app(
        request.param, tmp_path_factory.mktemp("rag-llm"), shared_billing,
        llm_provider="anthropic", llm_api_key=SecretStr("sk-ant-test"),
        llm_base_url=anthropic_server.urls["anthropic"], llm_model="claude-test",
    ) as app:  # fmt: skip
        yield app


@pytest.fixture
def with_llm(shared_with_llm: RagApp, anthropic: tuple[AnthropicFake, str]) -> RagApp:
    """The module's app with an LLM (the fake of ``anthropic``), per backend."""
    return shared_with_llm


async def test_the_llm_answers_with_citations_to_the_passages(
    with_llm: RagApp, anthropic: tuple[AnthropicFake, str]
) -> None:
    fake, _ = anthropic
    rag, tenant = with_llm, new_tenant()
    base, ids = await library(rag, tenant)
    before, _ = await rag.balance(tenant)
    fake.reply("Within thirty days of purchase [1]. The card is refunded [1, 7] [9].",
               usage=(300, 20))  # fmt: skip
    asked = await rag.ask(tenant, {"question": QUESTION, "knowledge_base_ids": [base], "k": 3})
    assert asked.status_code == 200, asked.text
    answer = asked.json()
    assert answer["llm"] == "anthropic/claude-test"
    assert answer["answer"] == "Within thirty days of purchase [1]. The card is refunded [1]."
    assert answer["invented_citations"] == [7, 9]
    assert "(7, 9)" in answer["note"]
    (cited,) = answer["citations"]
    assert cited["number"] == 1
    assert cited["document_id"] == ids["Refunds"] == answer["passages"][0]["document_id"]
    assert cited["heading_path"] == ["Refunds"]
    assert cited["position"] == 0
    assert cited["quote"] is None
    # What the model was given: instructions apart, each passage under its number.
    sent = fake.requests[-1].body
    assert "only the numbered passages" in sent["system"]
    prompt = sent["messages"][0]["content"]
    prompt = prompt if isinstance(prompt, str) else prompt[0]["text"]
    assert prompt.startswith("Passages:\n\n[1] (Refunds > Refunds)\n")
    assert prompt.endswith(f"Question: {QUESTION}")
    assert sent["max_tokens"] == rag.settings.llm_max_tokens
    # 300 tokens read at 1 and 20 written at 4 credits per 1,000: 1 credit, the rest released.
    assert answer["credits_charged"] == 1
    assert await rag.balance(tenant) == (before - 1, 0)


async def test_tokens_beyond_the_hold_are_charged_too(
    with_llm: RagApp, anthropic: tuple[AnthropicFake, str]
) -> None:
    # The hold is the prompt counted with cl100k plus the reply's bound; a vendor whose own
    # tokenizer counts the prompt longer is paid what it counted: the hold captured, the rest
    # deducted beside it (rag-answer:<id>:excess), once.
    fake, _ = anthropic
    rag, tenant = with_llm, new_tenant()
    base, _ = await library(rag, tenant)
    before, _ = await rag.balance(tenant)
    for stream in (False, True):
        fake.reply("Within thirty days of purchase [1].", usage=(20_000, 20))
        body = {"question": QUESTION, "knowledge_base_ids": [base], "k": 3, "stream": stream}
        asked = await rag.ask(tenant, body)
        assert asked.status_code == 200, asked.text
        charged = sse(asked.text)[-1][1] if stream else asked.json()
        # 20,000 read at 1 and 20 written at 4 credits per 1,000: 21 (about 5 were held).
        assert charged["credits_charged"] == 21
    assert await rag.balance(tenant) == (before - 42, 0)


async def test_a_streamed_answer_is_server_sent_events(
    with_llm: RagApp, anthropic: tuple[AnthropicFake, str]
) -> None:
    fake, _ = anthropic
    rag, tenant = with_llm, new_tenant()
    base, ids = await library(rag, tenant)
    # A marker split over deltas is held until it is known to cite a passage.
    fake.reply(["Thirty days [", "1", "]", " and never [1", "2]."], usage=(300, 9))
    body = {"question": QUESTION, "knowledge_base_ids": [base], "k": 3, "stream": True}
    answered = await rag.http.post("/v1/rag", json=body, headers=rag.headers(tenant))
    assert answered.status_code == 200
    assert answered.headers["content-type"].startswith("text/event-stream")
    events = sse(answered.text)
    names = [name for name, _ in events]
    assert names[0] == "passages"
    assert names[-2:] == ["citations", "done"]
    assert set(names[1:-2]) == {"delta"}
    assert len(events[0][1]["passages"]) == 3
    deltas = [data["text"] for name, data in events if name == "delta"]
    assert "".join(deltas) == "Thirty days [1] and never."
    assert "[" not in deltas  # the half marker was never shown alone
    citations = events[-2][1]
    assert [c["document_id"] for c in citations["citations"]] == [ids["Refunds"]]
    assert citations["invented_citations"] == [12]
    done = events[-1][1]
    assert done["llm"] == "anthropic/claude-test"
    assert done["usage"] == {"input_tokens": 300, "output_tokens": 9}
    assert done["credits_charged"] == 1


async def test_a_provider_failing_mid_stream_ends_with_an_error_event(
    with_llm: RagApp, anthropic: tuple[AnthropicFake, str]
) -> None:
    fake, _ = anthropic
    rag, tenant = with_llm, new_tenant()
    base, _ = await library(rag, tenant)
    fake.reply(["Thirty ", "days ", "[1]."], overloaded_after=4)
    body = {"question": QUESTION, "knowledge_base_ids": [base], "stream": True}
    answered = await rag.http.post("/v1/rag", json=body, headers=rag.headers(tenant))
    events = sse(answered.text)
    assert events[0][0] == "passages"
    assert events[-1][0] == "error"
    problem = events[-1][1]
    assert problem["type"] == "/problems/provider-unavailable"
    assert problem["status"] == 503
    assert "done" not in [name for name, _ in events]


async def test_a_provider_down_before_the_answer_is_a_problem(
    with_llm: RagApp, anthropic: tuple[AnthropicFake, str]
) -> None:
    fake, _ = anthropic
    rag, tenant = with_llm, new_tenant()
    base, _ = await library(rag, tenant)
    before, _ = await rag.balance(tenant)
    fake.fail_next(3, status=401)
    asked = await rag.ask(tenant, {"question": QUESTION, "knowledge_base_ids": [base]})
    assert asked.status_code == 502, asked.text
    assert asked.json()["type"] == "/problems/provider-refused"
    assert await rag.balance(tenant) == (before, 0)  # the hold went back
