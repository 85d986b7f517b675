"""``v100 up`` as a user runs it: one real process brings all 19 services to ready on their seed
ports, ``v100 status`` agrees, and Ctrl-C (SIGINT) stops it cleanly. The seed fixes the ports,
so this must not run beside another ``v100 up`` (the test checks the ports are free first)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from v100.contracts.topology import SERVICES

pytestmark = pytest.mark.slow

READY_WITHIN_S = 60.0
STOPS_WITHIN_S = 15.0
V100 = str(Path(sys.executable).with_name("v100"))


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def _not_ready(client: httpx.Client) -> list[str]:
    waiting = []
    for info in SERVICES:
        try:
            if client.get(f"{info.url}/ready", timeout=2.0).status_code == 200:
                continue
        except httpx.TransportError:
            pass
        waiting.append(info.name)
    return waiting


def _new_user_reads_status_with_an_api_key() -> None:
    """The issue's "done means": sign up, create an API key, read /v1/status with it."""
    gateway = "http://127.0.0.1:4000"
    with httpx.Client(base_url=gateway, timeout=10.0) as client:
        signup = client.post(
            "/v1/auth/signup",
            json={
                "email": "ada@example.com",
                "password": "correct horse battery",
                "tenant_name": "Ada Films",
            },
        )
        assert signup.status_code == 201, signup.text
        access = signup.json()["access_token"]
        created = client.post(
            "/v1/api-keys",
            headers={"Authorization": f"Bearer {access}"},
            json={"name": "e2e", "scopes": ["*"]},
        )
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        assert key.startswith("v100_sk_")
        status = client.get("/v1/status", headers={"X-API-Key": key})
        assert status.status_code == 200, status.text
        body = status.json()
        assert body["status"] == "ready", body
        assert {s["name"] for s in body["services"]} == {i.name for i in SERVICES}
        assert all(s["status"] == "ready" for s in body["services"]), body
        assert client.get("/v1/status").status_code == 401
        # A proxied prefix reaches its service with the gateway's internal token: the service
        # answers its own 404 problem for a route it does not have yet, not 401.
        proxied = client.get("/v1/credits/nothing-here", headers={"X-API-Key": key})
        assert proxied.status_code == 404, proxied.text
        assert proxied.headers["content-type"] == "application/problem+json"


@pytest.fixture
def platform_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, str]]]:
    busy = [f"{info.name}:{info.port}" for info in SERVICES if _port_in_use(info.port)]
    if busy:
        pytest.fail(f"seed ports already in use (another `v100 up`?): {', '.join(busy)}")
    # COLUMNS: wide enough that rich never shortens a service name in the status table.
    env = os.environ | {"V100_VAR_DIR": str(tmp_path / "var"), "COLUMNS": "200"}
    # Output to files, not pipes: nobody reads them while it runs, and a full pipe would block it.
    with (tmp_path / "stdout.log").open("wb") as out, (tmp_path / "stderr.log").open("wb") as err:
        process = subprocess.Popen(
            [V100, "up"], cwd=tmp_path, env=env, stdout=out, stderr=err, start_new_session=True
        )
    try:
        yield process, env
    finally:
        if process.poll() is None:  # the test failed before stopping it: do not leak it
            process.kill()
            process.wait(10)


def test_up_readies_all_services_and_stops_on_sigint(
    platform_process: tuple[subprocess.Popen[bytes], dict[str, str]], tmp_path: Path
) -> None:
    process, env = platform_process
    deadline = time.monotonic() + READY_WITHIN_S
    with httpx.Client() as client:
        waiting = _not_ready(client)
        while waiting and time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "stderr.log").read_text()[-4000:]
            time.sleep(0.25)
            waiting = _not_ready(client)
    assert not waiting, f"not ready after {READY_WITHIN_S:.0f} s: {waiting}"

    _new_user_reads_status_with_an_api_key()

    status = subprocess.run(
        [V100, "status"], cwd=tmp_path, env=env, capture_output=True, timeout=30, check=False
    )
    assert status.returncode == 0, status.stdout.decode()
    for info in SERVICES:
        assert info.name in status.stdout.decode()

    # The command polls its services once a second before it announces them all ready.
    stdout = tmp_path / "stdout.log"
    announce_by = time.monotonic() + 5.0
    while "all 19 services ready" not in stdout.read_text() and time.monotonic() < announce_by:
        time.sleep(0.1)
    assert "all 19 services ready" in stdout.read_text()

    process.send_signal(signal.SIGINT)
    returncode = process.wait(STOPS_WITHIN_S)
    stderr = (tmp_path / "stderr.log").read_text()
    assert returncode == 0, stderr[-4000:]
    assert "Traceback" not in stderr
    # Each service kept its own database under the var dir it was given.
    assert {p.stem for p in (tmp_path / "var").glob("*.db")} == {i.name for i in SERVICES}
    assert not any(_port_in_use(info.port) for info in SERVICES)
