"""One tenant cannot make a service answer 503 to every tenant (the security issue's row 4): a
tenant gets at most ``upstream_tenant_share`` of a service's in-flight budget (429 past it, for
that tenant only), and a request body that stops coming holds no connection to the service (a
small body is read whole first) and is cut off with 408 once idle too long."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from .routing_support import all_upstreams, assert_problem, gateway_serving
from .traffic_support import eventually, scripted_upstream

QUIET = {"upstream_retries": 0, "health_check_enabled": False, "response_cache_enabled": False}


async def _second_tenant(http: httpx.AsyncClient) -> dict[str, str]:
    body = {"email": "b@example.com", "password": "correct horse battery", "tenant_name": "B"}
    signup = await http.post("/v1/auth/signup", json=body)
    assert signup.status_code == 201, signup.text
    bearer = {"Authorization": f"Bearer {signup.json()['access_token']}"}
    key = await http.post("/v1/api-keys", json={"name": "b", "scopes": ["*"]}, headers=bearer)
    assert key.status_code == 201, key.text
    return {"X-API-Key": key.json()["key"]}


async def test_a_tenant_past_its_share_waits_while_others_go_on(tmp_path: Path) -> None:
    settings = {**QUIET, "upstream_max_connections": 8, "upstream_tenant_share": 0.25}
    async with scripted_upstream() as (url, upstream):
        upstream.plan("/v1/credits/slow", *(["hang"] * 2))
        async with (
            gateway_serving(tmp_path, all_upstreams(billing=url), **settings) as gateway,
            gateway.client() as http,
        ):
            b = await _second_tenant(http)
            held = [
                asyncio.create_task(http.get(f"/v1/credits/slow?n={n}", headers=gateway.headers))
                for n in range(2)
            ]
            await eventually(lambda: upstream.calls["/v1/credits/slow"] == 2)
            # Tenant A has its 2 of 8 in flight: its next request is refused, at once.
            refused = await http.get("/v1/credits/other", headers=gateway.headers)
            body = assert_problem(refused, 429, "rate-limited")
            assert "share" in body["detail"]
            assert refused.headers["retry-after"] == "1"
            # Tenant B is served all the while.
            for n in range(5):
                answer = await http.get(f"/v1/credits/b?n={n}", headers=b)
                assert answer.status_code == 200, answer.text
            for task in held:
                task.cancel()
            await asyncio.gather(*held, return_exceptions=True)
    assert upstream.calls["/v1/credits/other"] == 0


async def test_hundreds_of_stalled_bodies_hold_nothing_and_end_in_408(tmp_path: Path) -> None:
    # The tier's request rate (120 a minute per key) would refuse most of the 300 first:
    # off here, so every one of them gets as far as its body.
    settings = {
        **QUIET,
        "upstream_max_connections": 256,
        "proxy_body_idle_seconds": 3.0,
        "rate_limits": {"enabled": False},
    }
    async with (
        scripted_upstream() as (url, upstream),
        gateway_serving(tmp_path, all_upstreams(billing=url), **settings) as gateway,
        gateway.client() as http,
    ):
        b = await _second_tenant(http)
        address = urlsplit(gateway.url)
        head = (
            "POST /v1/credits/stalled HTTP/1.1\r\n"
            f"Host: {address.netloc}\r\nX-API-Key: {gateway.api_key}\r\n"
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a"'
        ).encode()

        async def stall() -> bytes:
            reader, writer = await asyncio.open_connection(address.hostname, address.port)
            writer.write(head)  # 4 of the 100 bytes promised, then nothing
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), timeout=30)  # until closed
            writer.close()
            return answer

        started = time.perf_counter()
        stalled = [asyncio.create_task(stall()) for _ in range(300)]
        await asyncio.sleep(0.5)
        # Tenant B goes on; nothing of A's reached the service, nothing holds its budget.
        for n in range(20):
            answer = await http.post(f"/v1/credits/b?n={n}", json={"n": n}, headers=b)
            assert answer.status_code == 200, answer.text
        assert upstream.calls["/v1/credits/stalled"] == 0
        answers = await asyncio.gather(*stalled)
        took = time.perf_counter() - started
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[0][:200]
    assert all(b"request-timeout" in a for a in answers)
    assert 3.0 <= took < 20, took
    assert upstream.calls["/v1/credits/stalled"] == 0
