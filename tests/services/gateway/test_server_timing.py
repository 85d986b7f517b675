"""Server-Timing on every answer of the gateway, one parseable field: its own processing time
(``gw``), the upstream's time to answer (``upstream``, proxied requests only), authentication and
the limiter; and the same times as Prometheus histograms per route group."""

from __future__ import annotations

from pathlib import Path

from .routing_support import all_upstreams, gateway_serving
from .traffic_support import metric, scripted_upstream, server_timing


async def test_every_answer_carries_the_gateways_own_time_apart_from_the_upstreams(
    tmp_path: Path,
) -> None:
    settings = {"health_check_enabled": False, "upstream_retries": 0}
    async with scripted_upstream(delay=0.05) as (url, upstream):
        upstream.plan("/v1/credits/down", 502)
        async with (
            gateway_serving(tmp_path, all_upstreams(billing=url), **settings) as gateway,
            gateway.client() as http,
        ):
            await http.get("/v1/credits/warm", headers=gateway.headers)  # the key is cached
            proxied = await http.get("/v1/credits/x", headers=gateway.headers)
            failed = await http.get("/v1/credits/down", headers=gateway.headers)
            own = await http.get("/v1/api-keys", headers=gateway.headers)
            health = await http.get("/health")
            refused = await http.get("/v1/credits/x")  # no credentials: 401
            not_found = await http.get("/v1/nowhere", headers=gateway.headers)
            metrics = (await http.get("/metrics")).text

    timing = server_timing(proxied.headers["server-timing"])
    assert set(timing) == {"gw", "upstream", "auth", "ratelimit"}
    assert timing["upstream"] >= 50  # the service took 50 ms
    assert 0 < timing["gw"] < 50  # ... which is not the gateway's own time
    assert timing["auth"] <= timing["gw"]
    assert len(proxied.headers.get_list("server-timing")) == 1  # one field, not several

    assert server_timing(failed.headers["server-timing"])["upstream"] >= 50
    for answer in (own, health, refused, not_found):
        names = set(server_timing(answer.headers["server-timing"]))
        assert "gw" in names
        assert "upstream" not in names
    assert "auth" not in server_timing(health.headers["server-timing"])  # a public path

    route = {"route": "/v1/credits/*"}
    assert metric(metrics, "v100_gateway_processing_seconds_count", **route) == 3
    assert metric(metrics, "v100_gateway_upstream_duration_seconds_count", **route) == 3
    upstream_sum = metric(metrics, "v100_gateway_upstream_duration_seconds_sum", **route)
    assert upstream_sum is not None
    assert upstream_sum >= 0.15
    assert metric(metrics, "v100_gateway_processing_seconds_count", route="/health") == 1
