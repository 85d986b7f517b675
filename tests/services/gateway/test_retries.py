"""Retries through the real gateway: only idempotent methods, only before anything of the answer
went to the caller, only with a body the gateway still holds, after a connect error or a 502/503
(not a 503 that asks for time, never into an open breaker), bounded, and counted."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from v100.kit.testing.servers import dead_url

from .routing_support import all_upstreams, assert_problem, gateway_serving
from .traffic_support import metric, scripted_upstream

QUIET = {"health_check_enabled": False, "upstream_retry_backoff_seconds": 0.001}


async def test_a_get_is_retried_after_connect_errors_and_a_post_is_not(tmp_path: Path) -> None:
    # Nothing listens for billing: every attempt is a refused connection.
    settings = {**QUIET, "breaker_consecutive_failures": 100}
    async with (
        gateway_serving(tmp_path, all_upstreams(billing=dead_url()), **settings) as gateway,
        gateway.client() as http,
    ):
        got = await http.get("/v1/credits/x", headers=gateway.headers)
        after_get = (await http.get("/metrics")).text
        posted = await http.post("/v1/credits/x", json={}, headers=gateway.headers)
        after_post = (await http.get("/metrics")).text
    assert_problem(got, 503, "upstream-unavailable")
    assert_problem(posted, 503, "upstream-unavailable")
    labels = {"upstream": "billing"}
    assert metric(after_get, "v100_gateway_upstream_failures_total", kind="connect", **labels) == 3
    assert metric(after_get, "v100_gateway_upstream_retries_total", reason="connect", **labels) == 2
    assert metric(after_post, "v100_gateway_upstream_failures_total", kind="connect", **labels) == 4
    assert (
        metric(after_post, "v100_gateway_upstream_retries_total", reason="connect", **labels) == 2
    )


@pytest.mark.parametrize("method", ["GET", "DELETE", "OPTIONS"])
async def test_idempotent_requests_are_retried_after_a_502_or_503(
    tmp_path: Path, method: str
) -> None:
    async with scripted_upstream() as (url, upstream):
        upstream.plan("/v1/credits/x", 502, 503)
        async with (
            gateway_serving(tmp_path, all_upstreams(billing=url), **QUIET) as gateway,
            gateway.client() as http,
        ):
            answer = await http.request(method, "/v1/credits/x", headers=gateway.headers)
            metrics = (await http.get("/metrics")).text
    assert answer.status_code == 200
    assert answer.json()["method"] == method
    assert upstream.calls["/v1/credits/x"] == 3
    labels = {"upstream": "billing"}
    assert metric(metrics, "v100_gateway_upstream_retries_total", reason="502", **labels) == 1
    assert metric(metrics, "v100_gateway_upstream_retries_total", reason="503", **labels) == 1


async def test_a_small_put_is_sent_again_with_its_whole_body(tmp_path: Path) -> None:
    async with scripted_upstream() as (url, upstream):
        upstream.plan("/v1/credits/x", 503)
        async with (
            gateway_serving(tmp_path, all_upstreams(billing=url), **QUIET) as gateway,
            gateway.client() as http,
        ):
            answer = await http.put(
                "/v1/credits/x", content=b"the same body twice", headers=gateway.headers
            )
    assert answer.status_code == 200
    assert [seen.body for seen in upstream.seen] == [b"the same body twice"] * 2
    assert answer.json()["body"] == "the same body twice"


async def test_non_idempotent_and_streamed_requests_are_sent_once(tmp_path: Path) -> None:
    async with scripted_upstream() as (url, upstream):
        upstream.plan("/v1/credits/post", 503)
        upstream.plan("/v1/credits/patch", 502)
        upstream.plan("/v1/credits/streamed", 503)
        upstream.plan("/v1/credits/large", 503)

        async def chunks() -> object:
            yield b"streamed "
            yield b"without a length"

        async with (
            gateway_serving(tmp_path, all_upstreams(billing=url), **QUIET) as gateway,
            gateway.client() as http,
        ):
            post = await http.post("/v1/credits/post", json={}, headers=gateway.headers)
            patch = await http.patch("/v1/credits/patch", json={}, headers=gateway.headers)
            streamed = await http.put(
                "/v1/credits/streamed", content=chunks(), headers=gateway.headers
            )
            large = await http.put(
                "/v1/credits/large", content=b"x" * (65 * 1024), headers=gateway.headers
            )
    assert (post.status_code, patch.status_code) == (503, 502)
    assert (streamed.status_code, large.status_code) == (503, 503)
    for path in ("post", "patch", "streamed", "large"):
        assert upstream.calls[f"/v1/credits/{path}"] == 1, path
    assert upstream.seen[2].body == b"streamed without a length"


async def test_nothing_is_retried_once_the_answer_has_started(tmp_path: Path) -> None:
    async with scripted_upstream() as (url, upstream):
        upstream.plan("/v1/credits/x", "break")
        async with (
            gateway_serving(tmp_path, all_upstreams(billing=url), **QUIET) as gateway,
            gateway.client() as http,
        ):
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get("/v1/credits/x", headers=gateway.headers)
            metrics = (await http.get("/metrics")).text
    assert upstream.calls["/v1/credits/x"] == 1
    assert metric(metrics, "v100_gateway_upstream_retries_total", upstream="billing") is None


async def test_a_503_asking_for_time_is_relayed_not_retried(tmp_path: Path) -> None:
    async with scripted_upstream() as (url, upstream):
        upstream.plan("/v1/credits/x", "retry-after")
        async with (
            gateway_serving(tmp_path, all_upstreams(billing=url), **QUIET) as gateway,
            gateway.client() as http,
        ):
            answer = await http.get("/v1/credits/x", headers=gateway.headers)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "30"
    assert upstream.calls["/v1/credits/x"] == 1


async def test_attempts_are_bounded_and_never_go_into_an_open_breaker(tmp_path: Path) -> None:
    async with scripted_upstream() as (url, upstream):
        upstream.plan("/v1/credits/bounded", 503, 503, 503, 503)
        upstream.plan("/v1/credits/open", 503, 503, 503)
        async with (
            gateway_serving(
                tmp_path, all_upstreams(billing=url), upstream_retries=2, **QUIET
            ) as gateway,
            gateway.client() as http,
        ):
            bounded = await http.get("/v1/credits/bounded", headers=gateway.headers)
            # Three failures so far; the fifth in a row opens the breaker: the first try here
            # fails, its retry fails and opens it, and the last attempt is never sent.
            opened = await http.get("/v1/credits/open", headers=gateway.headers)
            refused = await http.get("/v1/credits/open", headers=gateway.headers)
    assert bounded.status_code == 503  # the service's own answer to the last attempt
    assert upstream.calls["/v1/credits/bounded"] == 3
    assert opened.status_code == 503
    assert upstream.calls["/v1/credits/open"] == 2
    assert_problem(refused, 503, "upstream-unavailable")
    assert upstream.calls["/v1/credits/open"] == 2
