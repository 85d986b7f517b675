"""Webhook endpoints through the API: made, read, listed, changed, deleted; their URLs held to
the SSRF rules of URL imports (loopback only with the development setting); bad bodies answered
with problem+json; another tenant's endpoint is not found; secrets rotate with an overlap."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from v100.contracts.events import VIDEO_STREAM
from v100.kit.fetch import FetchPolicy

from .conftest import Deploy, ModuleDeploy
from .integration_support import Receiver, eventually, new_tenant


async def test_an_endpoint_is_made_read_changed_listed_and_deleted(
    deploy: Deploy, receiver: Receiver
) -> None:
    async with deploy() as service:
        made = await service.add_endpoint(
            receiver.endpoint(), description="CRM sync\nsecond line", event_types=["video.*"],
            headers={"X-Team": "media"}, rate_limit=20, ordered=True,
        )  # fmt: skip
        assert made["enabled"] is True
        assert made["ordered"] is True
        assert made["headers"] == {"X-Team": "media"}
        endpoint_id = made["id"]
        path = f"/v1/webhooks/endpoints/{endpoint_id}"
        read = await service.get(path)
        assert "secret" not in read
        secret = await service.get(f"{path}/secret")
        assert secret == {"key": made["secret"], "previous_expires_at": None}

        changed = await service.http.patch(
            path, json={"event_types": ["recording.ready"], "rate_limit": None, "enabled": False},
            headers=service.headers(),
        )  # fmt: skip
        assert changed.status_code == 200, changed.text
        assert changed.json()["event_types"] == ["recording.ready"]
        assert changed.json()["rate_limit"] is None
        assert changed.json()["disabled_reason"] == "manual"
        enabled = await service.http.patch(path, json={"enabled": True}, headers=service.headers())
        assert enabled.json()["enabled"] is True
        assert enabled.json()["disabled_reason"] is None
        refused = await service.http.patch(path, json={"url": None}, headers=service.headers())
        assert refused.status_code == 422

        other = await service.add_endpoint(receiver.endpoint("/other"))
        page = await service.get("/v1/webhooks/endpoints", limit=1)
        assert [e["id"] for e in page["items"]] == [other["id"]]
        rest = await service.get("/v1/webhooks/endpoints", cursor=page["next_cursor"])
        assert [e["id"] for e in rest["items"]] == [endpoint_id]

        stranger = new_tenant()
        for method in ("get", "patch", "delete"):
            answer = await service.http.request(
                method.upper(), path, headers=service.headers(stranger),
                json={"description": "x"} if method == "patch" else None,
            )  # fmt: skip
            assert answer.status_code == 404, (method, answer.text)
            assert answer.json()["type"] == "/problems/not-found"

        assert (await service.http.delete(path, headers=service.headers())).status_code == 204
        assert (await service.http.get(path, headers=service.headers())).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://127.0.0.1:1/x", "event_types": ["Video.Ready"]}, "event_types"),
        ({"url": "http://127.0.0.1:1/x", "event_types": ["video.*.ready"]}, "event_types"),
        ({"url": "http://127.0.0.1:1/x", "headers": {"webhook-id": "x"}}, "headers"),
        ({"url": "http://127.0.0.1:1/x", "headers": {"Host": "evil"}}, "headers"),
        ({"url": "http://127.0.0.1:1/x", "headers": {"X-A": "a\nb"}}, "headers"),
        ({"url": "http://127.0.0.1:1/x", "rate_limit": 0}, "rate_limit"),
        ({"url": "http://127.0.0.1:1/x", "secret": "whsec_abc"}, "secret"),
    ],
)
@pytest.mark.asyncio(loop_scope="module")  # one app per stack for the module: nothing is made
async def test_bad_bodies_are_validation_problems(
    module_deploy: ModuleDeploy, body: dict[str, object], field: str
) -> None:
    service = await module_deploy()
    answer = await service.http.post(
        "/v1/webhooks/endpoints", json=body, headers=service.creating()
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in str(answer.json()["errors"])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://10.0.0.7/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "ftp://203.0.113.9/hook",
        "http://user:pass@203.0.113.9/hook",
        "not a url",
    ],
)
@pytest.mark.asyncio(loop_scope="module")  # one app per stack for the module: nothing is made
async def test_receiver_urls_follow_the_ssrf_rules(module_deploy: ModuleDeploy, url: str) -> None:
    service = await module_deploy(allow_loopback_receivers=False)
    answer = await service.http.post(
        "/v1/webhooks/endpoints", json={"url": url}, headers=service.creating()
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["type"] == "/problems/url-not-allowed"


async def test_a_public_address_is_accepted_and_loopback_needs_the_setting(
    deploy: Deploy,
) -> None:
    async with deploy(allow_loopback_receivers=False) as service:
        # Registered only, never sent to: no event is published in this test.
        made = await service.add_endpoint("https://93.184.216.34/hook", enabled=False)
        assert made["url"] == "https://93.184.216.34/hook"
    async with deploy(allow_loopback_receivers=True) as service:
        await service.add_endpoint("http://127.0.0.1:8080/hook")


async def test_a_receiver_address_is_checked_again_at_delivery(
    deploy: Deploy, receiver: Receiver
) -> None:
    async with deploy(retry_schedule_seconds=(0,)) as service:
        await service.add_endpoint(receiver.endpoint())
        # As if the name now resolved elsewhere: loopback is no longer allowed when sending.
        service.dispatcher.sender.policy = FetchPolicy(user_agent="t")
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "v"})
        letters = await eventually(lambda: _items(service, "/v1/webhooks/dead-letters"))
        assert "url-not-allowed" in letters[0]["last_error"]
        assert receiver.received == []


async def test_a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends(
    deploy: Deploy, receiver: Receiver
) -> None:
    async with deploy() as service:
        made = await service.add_endpoint(receiver.endpoint())
        path = f"/v1/webhooks/endpoints/{made['id']}"
        rotated = await service.post(f"{path}/secret/rotate", {"overlap_seconds": 3600}, status=200)
        assert rotated["key"] != made["secret"]
        assert rotated["previous_expires_at"] is not None
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "v"})
        await eventually(lambda: _received(receiver, 1))
        delivery = receiver.received[0]
        assert len(delivery.headers["webhook-signature"].split(" ")) == 2
        for secret in (made["secret"], rotated["key"]):  # a receiver holding either verifies
            Webhook(secret).verify(delivery.body, delivery.headers)

        service.clock.advance(3601)  # the overlap is over: only the new secret signs
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "w"})
        await eventually(lambda: _received(receiver, 2))
        later = receiver.received[1]
        assert len(later.headers["webhook-signature"].split(" ")) == 1
        with pytest.raises(WebhookVerificationError):
            Webhook(made["secret"]).verify(later.body, later.headers)


async def test_scopes_are_required(deploy: Deploy) -> None:
    async with deploy() as service:
        reader = service.headers(scopes=frozenset({"webhooks:read"}))
        answer = await service.http.post(
            "/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:1/"},
            headers={**reader, "Idempotency-Key": "k1"},
        )  # fmt: skip
        assert answer.status_code == 403
        assert (await service.http.get("/v1/webhooks/endpoints", headers=reader)).status_code == 200
        catalogue = await service.get("/v1/webhooks/event-types")
        types = {item["type"]: item for item in catalogue["items"]}
        assert "video.ready" in types
        assert "endpoint.disabled" in types
        assert "status" in types["video.ready"]["data_schema"]["properties"]


async def _items(service: object, path: str) -> list[dict[str, object]]:
    return list((await service.get(path))["items"])  # type: ignore[attr-defined]


async def _received(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) >= count
