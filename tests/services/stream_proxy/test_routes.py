"""Media routes on both backends: CRUD scoped to the tenant, the SSRF guard on backends, and a
real failover: two origin servers on loopback, one killed while a player fetches through the
route's signed URL (every request still answered by the other), then the other (503 with
Retry-After), then a new backend patched in. Health as the route shows it: up, down."""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

from tests.support.billed import new_tenant
from v100.kit.testing.servers import serving
from v100.services.stream_proxy.tokens import PlaybackSigner

from .support import INTERNAL_SECRET, StreamApp, origin, path_of


def _route(*urls: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "avatar media",
        "kind": "avatar-session",
        "backends": [{"url": url, "weight": 1} for url in urls],
        "health_path": "/health",
        "health_interval_seconds": 0.2,
        **extra,
    }


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def _create(sp: StreamApp, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await sp.http.post(
        "/v1/streams/routes", json=body,
        headers=sp.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def _url(sp: StreamApp, tenant: str, route_id: str) -> str:
    answer = await sp.http.post(
        f"/v1/streams/routes/{route_id}/playback", json={}, headers=sp.headers(tenant)
    )
    assert answer.status_code == 200, answer.text
    return path_of(answer.json()["url"])


async def test_routes_are_the_tenants_own_and_backends_are_guarded(sp: StreamApp) -> None:
    tenant, other = new_tenant(), new_tenant()
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = _route("http://127.0.0.1:9/live", "http://127.0.0.2:9/live/")
    first = await sp.http.post("/v1/streams/routes", json=body, headers=sp.headers(tenant, **key))
    assert first.status_code == 201, first.text
    route = first.json()
    assert [b["url"] for b in route["backends"]] == [
        "http://127.0.0.1:9/live",
        "http://127.0.0.2:9/live",
    ]
    retried = await sp.http.post("/v1/streams/routes", json=body, headers=sp.headers(tenant, **key))
    assert retried.json()["id"] == route["id"]
    listed = await sp.http.get("/v1/streams/routes", headers=sp.headers(tenant))
    assert [r["id"] for r in listed.json()["items"]] == [route["id"]]
    assert (await sp.http.get("/v1/streams/routes?kind=live-hls",
                              headers=sp.headers(tenant))).json()["items"] == []  # fmt: skip

    rid = route["id"]
    for method, path, json in (
        ("GET", f"/v1/streams/routes/{rid}", None),
        ("PATCH", f"/v1/streams/routes/{rid}", {"name": "theirs"}),
        ("DELETE", f"/v1/streams/routes/{rid}", None),
        ("POST", f"/v1/streams/routes/{rid}/playback", {}),
    ):
        answer = await sp.http.request(method, path, json=json, headers=sp.headers(other))
        assert answer.status_code == 404, (method, path)
    assert (await sp.http.get("/v1/streams/routes", headers=sp.headers(other))).json()[
        "items"
    ] == []

    patched = await sp.http.patch(
        f"/v1/streams/routes/{rid}", json={"name": "renamed", "health_interval_seconds": 2},
        headers=sp.headers(tenant),
    )  # fmt: skip
    assert patched.status_code == 200
    assert patched.json()["name"] == "renamed"
    assert (await sp.http.patch(f"/v1/streams/routes/{rid}", json={"name": None},
                                headers=sp.headers(tenant))).status_code == 422  # fmt: skip

    # Only loopback is allowed here (backend_allow_cidrs): private, link-local and metadata
    # addresses, credentials in the URL and other schemes are refused.
    for url, status in (
        ("http://10.0.0.1/live", 400),
        ("http://169.254.169.254/latest", 400),
        ("http://[::ffff:192.168.1.1]/", 400),
        ("http://user:pw@127.0.0.1:9/", 400),
        ("http://127.0.0.1:9/live?x=1", 400),
        ("file:///etc/passwd", 422),
        ("ftp://127.0.0.1/", 422),
    ):
        answer = await sp.http.post(
            "/v1/streams/routes", json=_route(url), headers=sp.headers(tenant, **_key())
        )
        assert answer.status_code == status, (url, answer.text)
        if status == 400:
            assert answer.json()["type"] == "/problems/backend-not-allowed"
    twice = _route("http://127.0.0.1:9/a", "http://127.0.0.1:9/a/")
    refused = await sp.http.post(
        "/v1/streams/routes", json=twice, headers=sp.headers(tenant, **_key())
    )
    assert refused.status_code == 400
    unkeyed = await sp.http.post("/v1/streams/routes", json=body, headers=sp.headers(tenant))
    assert unkeyed.status_code == 422

    url = await _url(sp, tenant, rid)
    token = url.split("/")[3]
    signer = PlaybackSigner(INTERNAL_SECRET)
    for bad in (signer.video(tenant, rid, int(time.time()) + 60),
                signer.route(tenant, rid, int(time.time()) - 1)):  # fmt: skip
        answer = await sp.http.get(f"/hls/routes/{bad}/x.m4s")
        assert answer.status_code == 403
        assert answer.json()["type"] == "/problems/invalid-playback-token"
    theirs = signer.route(other, rid, int(time.time()) + 60)
    assert (await sp.http.get(f"/hls/routes/{theirs}/x.m4s")).status_code == 404
    assert (await sp.http.get(f"/hls/routes/{token}/a/%2e%2e/%2e%2e/etc")).status_code == 404
    assert (await sp.http.delete(f"/v1/streams/routes/{rid}",
                                 headers=sp.headers(tenant))).status_code == 204  # fmt: skip
    gone = await sp.http.get(f"{url}x.m4s")
    assert gone.status_code == 404


async def _served_by(sp: StreamApp, url: str, path: str, **headers: str) -> str:
    answer = await sp.http.get(f"{url}{path}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.text


async def test_a_route_fails_over_when_a_backend_dies(sp: StreamApp) -> None:
    tenant = new_tenant()
    async with contextlib.AsyncExitStack() as first, contextlib.AsyncExitStack() as second:
        a = await first.enter_async_context(serving(origin("a")))
        b = await second.enter_async_context(serving(origin("b")))
        route = await _create(sp, tenant, _route(f"{a}/live", f"{b}/live"))
        await sp.wait_states(tenant, route["id"], ["up", "up"])
        url = await _url(sp, tenant, route["id"])

        served = {(await _served_by(sp, url, "seg_1.m4s")).split()[0] for _ in range(30)}
        assert served == {"a", "b"}  # equal weights: both take requests
        echoed = await _served_by(sp, url, "v/seg_2.m4s?n=1", Range="bytes=0-99")
        assert echoed.endswith("v/seg_2.m4s range=bytes=0-99 q=n=1")

        await first.aclose()  # origin a is gone: connections refused from now on
        for n in range(20):
            assert (await _served_by(sp, url, f"seg_{n}.m4s")).startswith("b "), n
        route_now = await sp.wait_states(tenant, route["id"], ["down", "up"])
        assert route_now["backends"][0]["last_error"]

        await second.aclose()  # both gone
        down = await sp.http.get(f"{url}seg_9.m4s")
        assert down.status_code == 503
        assert down.json()["type"] == "/problems/no-healthy-backend"
        assert down.headers["retry-after"] == str(sp.settings.retry_after_seconds)
        assert down.headers["cache-control"] == "no-store"
        await sp.wait_states(tenant, route["id"], ["down", "down"])

        async with serving(origin("c")) as c:
            patched = await sp.http.patch(
                f"/v1/streams/routes/{route['id']}",
                json={"backends": [{"url": f"{c}/live", "weight": 1}]},
                headers=sp.headers(tenant),
            )
            assert patched.status_code == 200, patched.text
            # Not yet checked, it is tried at once; the checker then finds it up.
            assert (await _served_by(sp, url, "seg_1.m4s")).startswith("c ")
            await sp.wait_states(tenant, route["id"], ["up"])
