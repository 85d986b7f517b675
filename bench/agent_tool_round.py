"""What one round of an agent's tool loop adds to an answer: the time to the first content token
of a streamed ``/v1/chat/completions`` from an agent that first searches its knowledge base
(``knowledge_base_search``: the vendor's tool call, rag_engine's hybrid search with the query
embedded by the local MiniLM, the passages sent back, the vendor's second call) against the
same agent answering at once (one call). The vendor is the local fake Anthropic, its first
token after a fixed delay (``--delay``, 50 ms) on every call, so the difference is the tool
round: a second vendor delay plus our own work. The search alone, straight at rag_engine, is
timed too. Every server runs in this process, on this event loop (ai_orchestration, rag_engine,
the fake); billing is off. Run by hand, not in CI:

    .venv/bin/python bench/agent_tool_round.py [--runs 30] [--delay 0.05] [--documents 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from pydantic import SecretStr

from v100.kit.auth import Principal
from v100.kit.settings import PlatformSettings
from v100.kit.testing.fakes.anthropic import AnthropicFake, ScriptedCall
from v100.kit.testing.http import auth_headers
from v100.kit.testing.servers import serving
from v100.services.ai_orchestration.app import create_app as create_orchestration
from v100.services.ai_orchestration.settings import AiOrchestrationSettings
from v100.services.gateway.testing import INTERNAL_SECRET
from v100.services.rag_engine.app import create_app as create_rag
from v100.services.rag_engine.settings import RagEngineSettings

KEY = "sk-ant-bench"
TOPICS = ["refunds", "shipping", "warranty", "support", "billing", "accounts", "privacy",
          "returns", "exchanges", "gift cards"]  # fmt: skip
QUESTION = [{"role": "user", "content": "How long is the warranty?"}]


def _document(number: int) -> str:
    topic = TOPICS[number % len(TOPICS)]
    return (
        f"# {topic.title()} {number}\n\nThis page explains our {topic} policy, version {number}. "
        f"Customers ask about {topic} every day; the answer depends on the product. Kettles "
        f"carry a warranty of {number % 5 + 1} years from delivery. Repairs are free of charge."
    )


def _ms(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


async def _first(
    http: httpx.AsyncClient, body: dict[str, object], headers: dict[str, str]
) -> float:
    start = time.perf_counter()
    first = 0.0
    async with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as answer:
        assert answer.status_code == 200, await answer.aread()
        async for line in answer.aiter_lines():
            if not first and line.startswith("data: ") and '"content":"Two' in line:
                first = time.perf_counter() - start
    assert first, "no content arrived"
    return first


async def _settled(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
    for _ in range(6000):
        if (await http.get(path, headers=headers)).json()["status"] in ("ready", "failed"):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(path)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--documents", type=int, default=20)
    args = parser.parse_args()
    fake = AnthropicFake(api_key=KEY, first_token_delay=args.delay)
    with tempfile.TemporaryDirectory(prefix="v100-bench-") as scratch:
        tmp = Path(scratch)
        platform = PlatformSettings(
            var_dir=tmp, internal_token_secret=INTERNAL_SECRET, log_level="WARNING",
            database_url=f"sqlite+aiosqlite:///{tmp}/{{service}}.db",
            storage_url=f"file://{tmp}/objects",
        )  # fmt: skip
        rag_app = create_rag(RagEngineSettings(platform=platform, billing_enabled=False))
        async with (
            serving(fake.app, lifespan="off") as vendor,
            serving(rag_app, ready=True) as rag,
        ):
            settings = AiOrchestrationSettings(
                platform=platform, anthropic_api_key=SecretStr(KEY), anthropic_base_url=vendor,
                provider_max_retries=0, billing_enabled=False, rag_engine_url=rag,
            )  # fmt: skip
            app = create_orchestration(settings)
            async with (
                serving(app, ready=True) as orchestration,
                httpx.AsyncClient(base_url=orchestration, trust_env=False, timeout=120) as http,
                httpx.AsyncClient(base_url=rag, trust_env=False, timeout=120) as rag_http,
            ):
                principal = Principal(tenant_id=str(uuid.uuid4()), user_id="u1",
                                      scopes=frozenset({"*"}))  # fmt: skip
                headers = auth_headers(app, principal)
                await _run(http, rag_http, headers, auth_headers(rag_app, principal), fake, args)


async def _run(http: httpx.AsyncClient, rag_http: httpx.AsyncClient, headers: dict[str, str],
               rag_headers: dict[str, str], fake: AnthropicFake,
               args: argparse.Namespace) -> None:  # fmt: skip
    def keyed() -> dict[str, str]:
        return {**headers, "Idempotency-Key": uuid.uuid4().hex}

    kb = (await http.post("/v1/knowledge-bases", json={"name": "Bench"}, headers=keyed())).json()
    started = time.perf_counter()
    ids = []
    for number in range(args.documents):
        added = await http.post(
            f"/v1/knowledge-bases/{kb['id']}/documents",
            headers=keyed(),
            json={"content": _document(number), "format": "markdown"},
        )
        ids.append(added.json()["id"])
    for document in ids:
        await _settled(http, f"/v1/knowledge-bases/{kb['id']}/documents/{document}", headers)
    ingested = time.perf_counter() - started
    plain = (await http.post("/v1/agents", json={"name": "Plain", "max_tokens": 100},
                             headers=keyed())).json()  # fmt: skip
    searching = (await http.post(
        "/v1/agents", headers=keyed(),
        json={"name": "Searching", "max_tokens": 100, "knowledge_base_ids": [kb["id"]],
              "tools": [{"type": "knowledge_base_search"}]},
    )).json()  # fmt: skip
    search = ScriptedCall("knowledge_base_search", {"query": "kettle warranty"})

    async def one_call() -> float:
        fake.reply(["Two ", "years."], usage=(50, 5))
        return await _first(http, {"model": f"agent:{plain['id']}", "messages": QUESTION,
                                   "stream": True}, headers)  # fmt: skip

    async def tool_round() -> float:
        fake.reply(tool_calls=[search], usage=(50, 10))
        fake.reply(["Two ", "years [1]."], usage=(400, 6))
        return await _first(http, {"model": f"agent:{searching['id']}", "messages": QUESTION,
                                   "stream": True}, headers)  # fmt: skip

    async def search_only() -> float:
        start = time.perf_counter()
        answer = await rag_http.post("/v1/search", headers=rag_headers,
                                     json={"query": "kettle warranty", "knowledge_base_ids":
                                           [kb["id"]], "k": 5})  # fmt: skip
        assert answer.status_code == 200, answer.text
        return time.perf_counter() - start

    for _ in range(3):  # warm up: imports, connections, the model's first runs
        await one_call()
        await tool_round()
        await search_only()
    timings: dict[str, list[float]] = {"one call": [], "with a tool round": [], "search": []}
    sides = [("one call", one_call), ("with a tool round", tool_round), ("search", search_only)]
    for _ in range(args.runs):
        sides.reverse()
        for side, run in sides:
            timings[side].append(await run())
    (once, once95), (looped, looped95) = _ms(timings["one call"]), _ms(timings["with a tool round"])
    searched, searched95 = _ms(timings["search"])
    ours = looped - once - args.delay * 1000
    print(f"{args.documents} documents ingested in {ingested:.1f} s; {args.runs} runs a side, "
          f"the fake's first token after {args.delay * 1000:g} ms on every call")  # fmt: skip
    print(f"first token, one call:           median {once:7.2f} ms (p95 {once95:7.2f})")
    print(f"first token, with a tool round:  median {looped:7.2f} ms (p95 {looped95:7.2f})")
    print(f"the search alone (rag_engine):   median {searched:7.2f} ms (p95 {searched95:7.2f})")
    print(f"a tool round adds {looped - once:+.2f} ms median (ratio {looped / once:.2f}): the "
          f"vendor's second {args.delay * 1000:g} ms and {ours:+.2f} ms of ours")  # fmt: skip
    print(json.dumps({"one_call_ms": round(once, 2), "tool_round_ms": round(looped, 2),
                      "search_ms": round(searched, 2), "ours_ms": round(ours, 2)}))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
