"""Time to first token of ``POST /v1/chat/completions`` through the gateway, minus the provider's
own (issue 15: under 20 ms added). The provider is the local fake Anthropic with a fixed delay
before its first token (``--delay``, 50 ms), so the model's own thinking is the same on both
sides. Each run times, from before the request is sent to the first content:

- the provider's own: its Messages API streamed straight from the fake (``content_block_delta``);
- the platform's: an agent (on the fake, with the operator's key) streamed with ``stream: true``
  through the gateway with a V100 API key (the first chunk with ``delta.content``): the
  gateway's authentication, rate limits and proxy, ai_orchestration's model lookup, its
  tokens-per-minute budgets, the credit hold at the real billing app, the provider's SDK.

Both read the stream with the same plain httpx client; runs alternate sides, so drifting load
on shared cores hits both alike. Every server runs in this process, on this event loop (the
gateway, ai_orchestration, billing, the fake): their work competes with the client's, as on a
busy one-box install; with ``--billing-process`` billing is a process of its own (as it is
deployed: its ledger writes, which the hold beside the first token waits for, then no longer
share the loop that is relaying the first token). Run by hand, not in CI:

    .venv/bin/python bench/chat_ttft.py [--runs 100] [--delay 0.05] [--no-billing]
                                        [--billing-process]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from pydantic import SecretStr

from v100.kit.settings import PlatformSettings
from v100.kit.testing.fakes.anthropic import AnthropicFake
from v100.kit.testing.servers import serving, wait_ready
from v100.services.ai_orchestration.app import create_app as create_orchestration
from v100.services.ai_orchestration.settings import AiOrchestrationSettings
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.settings import BillingSettings
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.edge.limits import RateLimitSettings
from v100.services.gateway.testing import INTERNAL_SECRET, PASSWORD, gateway_settings_for

TARGET_ADDED_MS = 20.0
KEY = "sk-ant-bench"
PROMPT = [{"role": "user", "content": "Tell me a short story."}]
DELTAS = [f"word{i} " for i in range(20)]


async def _first(client: httpx.AsyncClient, url: str, body: dict[str, object],
                 headers: dict[str, str], is_first: str) -> float:  # fmt: skip
    """Seconds from sending to the first data line that contains ``is_first``."""
    start = time.perf_counter()
    first = 0.0
    async with client.stream("POST", url, json=body, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if not first and line.startswith("data: ") and is_first in line:
                first = time.perf_counter() - start
    assert first, "no content arrived"
    return first


async def _setup(http: httpx.AsyncClient) -> tuple[str, str]:
    """A tenant's API key and an agent of theirs."""
    signup = await http.post(
        "/v1/auth/signup",
        json={"email": f"b-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD,
              "tenant_name": "Bench"},
    )  # fmt: skip
    token = signup.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    key = await http.post("/v1/api-keys", json={"name": "b", "scopes": ["*"]}, headers=auth)
    agent = await http.post(
        "/v1/agents", json={"name": "Bench", "max_tokens": 100},
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    return str(key.json()["key"]), str(agent.json()["id"])


@contextlib.asynccontextmanager
async def _billing_process(tmp: Path) -> AsyncIterator[str]:
    """billing as ``v100 serve billing`` in a process of its own; its URL."""
    sys.path.insert(0, str(Path(__file__).parent))
    from _support import free_port, stop

    port = free_port()
    env = {
        **os.environ, "V100_INTERNAL_TOKEN_SECRET": INTERNAL_SECRET, "V100_VAR_DIR": str(tmp),
        "V100_LOG_LEVEL": "WARNING",
        "V100_BILLING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/billing.db",
    }  # fmt: skip
    process = subprocess.Popen(  # noqa: ASYNC220 - started before anything is timed
        [sys.executable, "-m", "v100.cli", "serve", "billing", "--port", str(port)],
        env=env, start_new_session=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url, within=120)
        yield url
    finally:
        stop(process)


def _ms(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.05)
    # Without billing: the credit hold's share of what is added (its ledger write).
    parser.add_argument("--no-billing", action="store_true")
    parser.add_argument("--billing-process", action="store_true")
    args = parser.parse_args()
    fake = AnthropicFake(api_key=KEY, first_token_delay=args.delay)
    with tempfile.TemporaryDirectory(prefix="v100-bench-") as scratch:
        tmp = Path(scratch)
        platform = PlatformSettings(
            var_dir=tmp, internal_token_secret=INTERNAL_SECRET, log_level="WARNING",
            database_url=f"sqlite+aiosqlite:///{tmp}/{{service}}.db",
        )  # fmt: skip
        billing_server = (
            _billing_process(tmp)
            if args.billing_process
            else serving(create_billing(BillingSettings(platform=platform)), ready=True)
        )
        async with serving(fake.app, lifespan="off") as vendor, billing_server as billing:
            settings = AiOrchestrationSettings(
                platform=platform, billing_url=billing, anthropic_api_key=SecretStr(KEY),
                anthropic_base_url=vendor, provider_max_retries=0,
                billing_enabled=not args.no_billing,
            )  # fmt: skip
            async with serving(create_orchestration(settings), ready=True) as orchestration:
                gateway_settings = gateway_settings_for(
                    f"sqlite+aiosqlite:///{tmp}/gateway.db", tmp,
                    upstreams={"ai_orchestration": orchestration, "billing": billing},
                    rate_limits=RateLimitSettings(enabled=False),
                )  # fmt: skip
                async with (
                    serving(create_gateway(gateway_settings), ready=True) as gateway,
                    httpx.AsyncClient(base_url=gateway, trust_env=False, timeout=60) as http,
                ):
                    key, agent = await _setup(http)
                    await _measure(http, vendor, gateway, key, agent, fake, args)


async def _measure(http: httpx.AsyncClient, vendor: str, gateway: str, key: str, agent: str,
                   fake: AnthropicFake, args: argparse.Namespace) -> None:  # fmt: skip
    direct_body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT[0]["content"]}]}],
    }
    direct_headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    chat_body = {"model": f"agent:{agent}", "messages": PROMPT, "stream": True}
    chat_headers = {"Authorization": f"Bearer {key}"}

    async def provider() -> float:
        fake.reply(DELTAS, usage=(20, 20))
        return await _first(http, f"{vendor}/v1/messages", direct_body, direct_headers,
                            '"text_delta"')  # fmt: skip

    async def platform() -> float:
        fake.reply(DELTAS, usage=(20, 20))
        return await _first(http, f"{gateway}/v1/chat/completions", chat_body, chat_headers,
                            '"content":"word0')  # fmt: skip

    for _ in range(5):  # warm up: imports, connections, caches
        await provider()
        await platform()
    timings: dict[str, list[float]] = {"provider": [], "platform": []}
    sides = [("provider", provider), ("platform", platform)]
    for _ in range(args.runs):
        sides.reverse()
        for side, run in sides:
            timings[side].append(await run())
    (own, own95), (ours, ours95) = _ms(timings["provider"]), _ms(timings["platform"])
    added = ours - own
    verdict = "within" if added < TARGET_ADDED_MS else "OVER"
    where = "a process of its own" if args.billing_process else "this event loop"
    print(f"{args.runs} streams a side, the fake's first token after {args.delay * 1000:g} ms; "
          f"billing on {where}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"provider's own first token: median {own:7.2f} ms (p95 {own95:7.2f})")
    print(f"through the gateway:        median {ours:7.2f} ms (p95 {ours95:7.2f})")
    print(f"added by the platform: {added:+.2f} ms median, {ours95 - own95:+.2f} ms p95; "
          f"ratio {ours / own:.3f} ({verdict} the {TARGET_ADDED_MS:g} ms budget)")  # fmt: skip
    print(json.dumps({"provider_ms": round(own, 2), "platform_ms": round(ours, 2),
                      "added_ms": round(added, 2)}))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
