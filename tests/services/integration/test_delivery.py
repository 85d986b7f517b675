"""A platform event becomes one message and a signed delivery to every matching endpoint of its
tenant, verified by the ``standardwebhooks`` library; filters and wildcards choose who gets
what; a redelivered event is the same message; retries follow the schedule to the dead-letter
list; 410 disables; redirects are not followed; slow receivers time out."""

from __future__ import annotations

import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from v100.contracts.events import (
    KNOWLEDGE_BASE_DOCUMENT_ADDED,
    KNOWLEDGE_BASES_STREAM,
    RECORDINGS_STREAM,
    VIDEO_STREAM,
    KnowledgeBaseEventData,
)

from .conftest import Deploy
from .integration_support import Receiver, eventually, settled_as


async def test_an_event_is_delivered_signed_to_each_matching_endpoint(
    deploy: Deploy, receiver: Receiver
) -> None:
    async with deploy() as service:
        videos = await service.add_endpoint(receiver.endpoint("/videos"), event_types=["video.*"])
        every = await service.add_endpoint(receiver.endpoint("/all"))
        await service.add_endpoint(receiver.endpoint("/recordings"), event_types=["recording.*"])
        assert videos["secret"].startswith("whsec_")
        event = await service.publish(VIDEO_STREAM, "video.ready", {"id": "v1", "status": "ready"})

        await eventually(lambda: _count(receiver, "/videos", "/all", want=2))
        for path, endpoint in (("/videos", videos), ("/all", every)):
            (delivery,) = receiver.at(path)
            # Verified as a receiver would: the library checks the signature and the time.
            payload = Webhook(endpoint["secret"]).verify(delivery.body, delivery.headers)
            assert payload["type"] == "video.ready"
            assert payload["data"] == {"id": "v1", "status": "ready"}
            assert payload["timestamp"] == event.time.isoformat()
        assert receiver.at("/recordings") == []
        ids = {r.headers["webhook-id"] for r in receiver.received}
        assert len(ids) == 1  # one message, one id, whatever the endpoint

        (message_id,) = ids
        message = await service.get(f"/v1/webhooks/messages/{message_id}")
        assert message["event_id"] == event.id
        assert message["resource_key"] == "video:v1"
        statuses = await eventually(lambda: settled_as(service, message_id, want="succeeded"))
        assert sorted(statuses) == sorted([videos["id"], every["id"]])
        log = await service.get(f"/v1/webhooks/endpoints/{videos['id']}/attempts")
        (attempt,) = log["items"]
        assert attempt["outcome"] == "succeeded"
        assert attempt["status_code"] == 200
        assert attempt["response_excerpt"] == "answer 200 for /videos"
        assert attempt["next_attempt_at"] is None


async def test_knowledge_base_events_reach_their_subscribers(
    deploy: Deploy, receiver: Receiver
) -> None:
    # ai_orchestration's own stream (knowledge_bases) is one of the tenant streams integration
    # reads: a subscriber to knowledge_base.* gets them, signed, with their data as published.
    async with deploy() as service:
        made = await service.add_endpoint(receiver.endpoint("/kb"),
                                          event_types=["knowledge_base.*"])  # fmt: skip
        data = KnowledgeBaseEventData(
            id="kb1", name="Handbook", embedding_model="minilm-l6-v2-int8", dimension=384,
            document_id="d1", document_status="queued", document_format="pdf",
        ).model_dump(mode="json", exclude_none=True)  # fmt: skip
        await service.publish(KNOWLEDGE_BASES_STREAM, KNOWLEDGE_BASE_DOCUMENT_ADDED, data)
        await eventually(lambda: _count(receiver, "/kb", want=1))
        (delivery,) = receiver.at("/kb")
        payload = Webhook(made["secret"]).verify(delivery.body, delivery.headers)
        assert payload["type"] == "knowledge_base.document.added"
        assert payload["data"] == data
        catalogue = await service.get("/v1/webhooks/event-types")
        types = {item["type"] for item in catalogue["items"]}
        assert {
            "knowledge_base.created", "knowledge_base.deleted",
            "knowledge_base.document.added", "knowledge_base.document.removed",
        } <= types  # fmt: skip


async def test_a_redelivered_event_is_the_same_message(deploy: Deploy, receiver: Receiver) -> None:
    async with deploy() as service:
        await service.add_endpoint(receiver.endpoint())
        first = await service.publish(RECORDINGS_STREAM, "recording.ready", {"recording_id": "r"})
        await service.publish(
            RECORDINGS_STREAM, "recording.ready", {"recording_id": "r"}, id=first.id
        )
        await service.publish(RECORDINGS_STREAM, "recording.errored", {"recording_id": "r"})
        await eventually(lambda: _count(receiver, "/hook", want=2))
        messages = await service.get("/v1/webhooks/messages")
        assert sorted(m["event_type"] for m in messages["items"]) == [
            "recording.errored",
            "recording.ready",
        ]
        # Another tenant's events never reach this tenant's endpoints.
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "x"}, tenant=str(first.id))
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "y"})
        await eventually(lambda: _count(receiver, "/hook", want=3))
        assert orjson.loads(receiver.received[-1].body)["data"] == {"id": "y"}


async def test_failures_are_retried_then_dead_lettered_then_recovered(
    deploy: Deploy, receiver: Receiver
) -> None:
    receiver.on("/hook", 500)
    async with deploy(retry_schedule_seconds=(0, 0.05, 0.1)) as service:
        endpoint = await service.add_endpoint(receiver.endpoint())
        await service.publish(VIDEO_STREAM, "video.errored", {"id": "v2"})
        dead = await eventually(lambda: _dead_letters(service))
        (letter,) = dead
        assert letter["attempts"] == 3
        assert letter["last_status_code"] == 500
        assert len(receiver.received) == 3
        assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
        log = await service.get(f"/v1/webhooks/messages/{letter['message_id']}/attempts")
        assert [a["attempt"] for a in log["items"]] == [3, 2, 1]  # newest first
        assert {a["outcome"] for a in log["items"]} == {"failed"}
        assert log["items"][0]["next_attempt_at"] is None
        assert log["items"][1]["next_attempt_at"] is not None
        assert log["items"][0]["response_excerpt"] == "answer 500 for /hook"
        failed_only = await service.get(
            f"/v1/webhooks/endpoints/{endpoint['id']}/attempts", status_code=500, limit=2
        )
        assert len(failed_only["items"]) == 2
        assert failed_only["next_cursor"]

        receiver.on("/hook", 200)
        queued = await service.post(
            f"/v1/webhooks/endpoints/{endpoint['id']}/recover", {"since": letter["failed_at"]}
        )
        assert queued == {"queued": 1}
        await eventually(lambda: _count(receiver, "/hook", want=4))
        assert receiver.received[-1].headers["webhook-id"] == letter["message_id"]
        assert await eventually(lambda: settled_as(service, letter["message_id"], "succeeded"))
        assert (await service.get("/v1/webhooks/dead-letters"))["items"] == []


async def test_410_gone_disables_the_endpoint_and_says_so(
    deploy: Deploy, receiver: Receiver
) -> None:
    receiver.on("/gone", 410)
    async with deploy() as service:
        gone = await service.add_endpoint(receiver.endpoint("/gone"), event_types=["video.*"])
        ops = await service.add_endpoint(receiver.endpoint("/ops"), event_types=["endpoint.*"])
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "v3"})
        await eventually(lambda: _count(receiver, "/ops", want=1))
        assert len(receiver.at("/gone")) == 1  # never retried
        announced = orjson.loads(receiver.at("/ops")[0].body)
        assert announced["type"] == "endpoint.disabled"
        assert announced["data"]["endpoint_id"] == gone["id"]
        assert announced["data"]["reason"] == "gone"
        endpoint = await service.get(f"/v1/webhooks/endpoints/{gone['id']}")
        assert endpoint["enabled"] is False
        assert endpoint["disabled_reason"] == "gone"
        (note,) = (await service.get("/v1/webhooks/notifications"))["items"]
        assert note["kind"] == "endpoint.disabled"
        assert gone["url"] in note["subject"]
        # A disabled endpoint takes no new messages and refuses a test event.
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "v4"})
        answer = await service.http.post(
            f"/v1/webhooks/endpoints/{gone['id']}/test", headers=service.creating()
        )
        assert answer.status_code == 409
        assert answer.json()["type"] == "/problems/endpoint-disabled"
        assert ops["enabled"] is True


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_a_failure_never_followed(
    deploy: Deploy, receiver: Receiver, status: int
) -> None:
    receiver.on("/moved", status)
    async with deploy(retry_schedule_seconds=(0,)) as service:
        await service.add_endpoint(receiver.endpoint("/moved"))
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "v5"})
        (letter,) = await eventually(lambda: _dead_letters(service))
        assert letter["last_status_code"] == status
        assert [r.path for r in receiver.received] == ["/moved"]


async def test_a_receiver_slower_than_the_timeout_fails_the_attempt(
    deploy: Deploy, receiver: Receiver
) -> None:
    receiver.on("/slow", (200, 3.0))
    async with deploy(retry_schedule_seconds=(0,), attempt_timeout_seconds=0.5) as service:
        await service.add_endpoint(receiver.endpoint("/slow"))
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "v6"})
        (letter,) = await eventually(lambda: _dead_letters(service))
        assert letter["last_status_code"] is None
        assert "url-fetch-failed" in letter["last_error"]
        log = await service.get(f"/v1/webhooks/messages/{letter['message_id']}/attempts")
        assert 400 <= log["items"][0]["duration_ms"] < 2500


# -- helpers ---------------------------------------------------------------------------------


async def _count(receiver: Receiver, *paths: str, want: int) -> bool:
    return sum(len(receiver.at(p)) for p in paths) >= want


async def _dead_letters(service: object) -> list[dict[str, object]]:
    page = await service.get("/v1/webhooks/dead-letters")  # type: ignore[attr-defined]
    return list(page["items"])
