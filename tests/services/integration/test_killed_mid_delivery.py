"""The integration service killed (SIGKILL) while its attempts are in flight: nothing is lost.
The next start finds the deliveries whose lease ran out and sends them again, each with the
``webhook-id`` it had, so a receiver that dedupes on it sees every message exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from v100.kit.auth import InternalTokens, Principal
from v100.kit.testing.net import free_port

from .conftest import Deploy, Stack
from .integration_support import INTERNAL_SECRET, Receiver, eventually, new_tenant

pytestmark = [pytest.mark.slow, pytest.mark.real_clock]

V100 = str(Path(sys.executable).with_name("v100"))
MESSAGES = 12


@asynccontextmanager
async def process(args: list[str], env: dict[str, str], log: Path) -> AsyncIterator[int]:
    with log.open("w") as output:
        child = await asyncio.create_subprocess_exec(
            V100, *args, env={**os.environ, **env}, stdout=output, stderr=output,
            start_new_session=True,
        )  # fmt: skip
        try:
            yield child.pid
        finally:
            # Killed already by the test, maybe not yet reaped: the group may be gone.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            await child.wait()


def environment(stack: Stack, tmp_path: Path) -> dict[str, str]:
    env = {
        "V100_VAR_DIR": str(tmp_path),
        "V100_INTERNAL_TOKEN_SECRET": INTERNAL_SECRET,
        "V100_LOG_LEVEL": "WARNING",
        "V100_INTEGRATION_DATABASE_URL": stack.database_url,
        "V100_INTEGRATION_ALLOW_LOOPBACK_RECEIVERS": "true",
        "V100_INTEGRATION_DELIVERY_LEASE_SECONDS": "2",
        "V100_INTEGRATION_CONSUME_FROM_START": "false",
    }
    env.update({f"V100_{name.upper()}": str(value) for name, value in stack.platform.items()})
    return env


async def test_a_service_killed_mid_delivery_loses_nothing_and_keeps_ids(
    stack: Stack, deploy: Deploy, receiver: Receiver, tmp_path: Path
) -> None:
    tenant = new_tenant()
    token = InternalTokens(INTERNAL_SECRET, 300).mint(
        Principal(tenant_id=tenant, user_id="u1", scopes=frozenset({"*"}))
    )
    headers = {"Authorization": f"Bearer {token}"}
    receiver.on("/hook", (200, 60.0))  # every attempt hangs until the process is killed
    port = str(free_port())
    log = tmp_path / "killed.log"
    message_ids: list[str] = []
    async with process(["serve", "integration", "--port", port], environment(stack, tmp_path),
                       log) as pid:  # fmt: skip
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            await _ready(http, log)
            made = await http.post(
                "/v1/webhooks/endpoints", json={"url": receiver.endpoint()},
                headers={**headers, "Idempotency-Key": "endpoint"},
            )  # fmt: skip
            assert made.status_code == 201, made.text
            for n in range(MESSAGES):
                sent = await http.post(
                    f"/v1/webhooks/endpoints/{made.json()['id']}/test",
                    headers={**headers, "Idempotency-Key": f"test-{n}"},
                )
                assert sent.status_code == 202, sent.text
                message_ids.append(sent.json()["id"])
            # Attempts are in flight (the endpoint's share of them): kill the process now.
            await eventually(lambda: _at_least(receiver, 8), within=20)
        os.killpg(pid, signal.SIGKILL)
    in_flight = {r.headers["webhook-id"] for r in receiver.received}
    assert in_flight <= set(message_ids)

    receiver.on("/hook", 200)
    async with deploy(delivery_lease_seconds=2) as service:
        service.tenant = tenant
        settled = await eventually(lambda: _all_delivered(service, message_ids), within=30)
        assert settled
    by_id: dict[str, set[bytes]] = {}
    for request in receiver.received:
        by_id.setdefault(request.headers["webhook-id"], set()).add(request.body)
    # Every message arrived, each under its one id with one body; the ones cut off by the
    # kill came again with the id they had.
    assert set(by_id) == set(message_ids)
    assert all(len(bodies) == 1 for bodies in by_id.values())
    resent = [r.headers["webhook-id"] for r in receiver.received[len(in_flight) :]]
    assert in_flight <= set(resent)


async def _ready(http: httpx.AsyncClient, log: Path) -> None:
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        try:
            if (await http.get("/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"not ready: {(await asyncio.to_thread(log.read_text))[-3000:]}")


async def _at_least(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) >= count


async def _all_delivered(service: object, message_ids: list[str]) -> bool:
    for message_id in message_ids:
        message = await service.get(f"/v1/webhooks/messages/{message_id}")  # type: ignore[attr-defined]
        if [d["status"] for d in message["deliveries"]] != ["succeeded"]:
            return False
    return True
