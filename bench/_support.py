"""What the benchmarks share: free loopback ports, stopping the processes they start, and a
fresh tenant's API key from a running gateway. Imported as ``_support`` (benchmarks run as
``python bench/<name>.py``, so this folder is on the path)."""

from __future__ import annotations

import signal
import socket
import subprocess
import uuid

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGINT, as Ctrl-C would; killed if it has not ended within ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def api_key(gateway: str) -> str:
    """Sign up a new tenant at ``gateway`` and create an all-scopes API key for it."""
    with httpx.Client(base_url=gateway, timeout=10.0, trust_env=False) as http:
        signup = http.post(
            "/v1/auth/signup",
            json={
                "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
                "password": "correct horse battery staple",
                "tenant_name": "Bench",
            },
        )
        signup.raise_for_status()
        token = signup.json()["access_token"]
        key = http.post(
            "/v1/api-keys",
            json={"name": "bench", "scopes": ["*"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        key.raise_for_status()
        return str(key.json()["key"])
