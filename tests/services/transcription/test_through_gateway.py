"""Through the real gateway with API keys, as a customer would: the audio file streamed in as
the raw body of ``POST /v1/transcripts/files``, the transcript followed until it completes with
word timings and the language; a read-only key may read but not create; a loopback URL is
refused with the problem the service gives; another tenant sees nothing. The transcription app
on a loopback port, on both backends, with the session's real billing app."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.billed import balance
from v100.contracts.topology import SERVICES
from v100.kit.auth import InternalTokens
from v100.kit.settings import PlatformSettings
from v100.kit.testing.servers import dead_url, serving
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.settings import GatewaySettings
from v100.services.gateway.testing import UNTHROTTLED
from v100.services.transcription.app import create_app
from v100.services.transcription.settings import TranscriptionSettings

from .conftest import SPOKEN
from .support import INTERNAL_SECRET, SETTLED

pytestmark = pytest.mark.slow


async def _signup(http: httpx.AsyncClient, name: str) -> tuple[str, str]:
    """A new tenant: (its id, a bearer token of its owner)."""
    signup = await http.post(
        "/v1/auth/signup",
        json={"email": f"{name}-{uuid.uuid4().hex[:8]}@example.com",
              "password": "correct horse battery staple", "tenant_name": name},
    )  # fmt: skip
    assert signup.status_code == 201, signup.text
    body = signup.json()
    return body["tenant"]["id"], body["access_token"]


async def _api_key(http: httpx.AsyncClient, token: str, scopes: list[str]) -> str:
    key = await http.post(
        "/v1/api-keys",
        json={"name": "transcripts", "scopes": scopes},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert key.status_code == 201, key.text
    return str(key.json()["key"])


@asynccontextmanager
async def gateway_in_front_of(service_url: str, var_dir: Path) -> AsyncIterator[str]:
    """The real gateway routing /v1/transcripts to ``service_url``; its URL once ready."""
    nowhere = dead_url()
    upstreams = {i.name: nowhere for i in SERVICES if i.name != "gateway"}
    upstreams["transcription"] = service_url
    settings = GatewaySettings(
        platform=PlatformSettings(var_dir=var_dir, internal_token_secret=INTERNAL_SECRET),
        database_url=f"sqlite+aiosqlite:///{var_dir}/gateway.db",
        jwt_secret="gateway-jwt-secret-for-transcription-tests-01",
        password_time_cost=1,
        password_memory_kib=1024,
        password_parallelism=1,
        upstreams=upstreams,
        **UNTHROTTLED,
    )
    async with serving(create_gateway(settings), ready=True) as url:
        yield url


async def _settled(http: httpx.AsyncClient, path: str, key: str) -> dict[str, Any]:
    for _ in range(1800):
        answer = await http.get(path, headers={"X-API-Key": key})
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] in SETTLED:
            return dict(answer.json())
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{path} did not settle")


async def test_a_transcript_through_the_gateway_with_api_keys(
    ts_settings: TranscriptionSettings, speech: bytes, tmp_path: Path
) -> None:
    tokens = InternalTokens(INTERNAL_SECRET)
    (tmp_path / "gateway").mkdir()
    async with (
        serving(create_app(ts_settings), ready=True) as service_url,
        gateway_in_front_of(service_url, tmp_path / "gateway") as url,
        httpx.AsyncClient(base_url=url, timeout=60, trust_env=False) as http,
    ):
        tenant, token = await _signup(http, "Transcripts")
        writer = await _api_key(http, token, ["transcripts:write", "transcripts:read"])
        reader = await _api_key(http, token, ["transcripts:read"])
        available, _ = await balance(ts_settings.billing_url, tokens, tenant)

        created = await http.post(
            "/v1/transcripts/files",
            content=speech,
            params={"name": "standup.wav", "language": "auto"},
            headers={"X-API-Key": writer, "Content-Type": "audio/wav",
                     "Idempotency-Key": "standup"},
        )  # fmt: skip
        assert created.status_code == 202, created.text
        path = f"/v1/transcripts/{created.json()['id']}"
        done = await _settled(http, path, reader)
        assert done["status"] == "completed", done
        assert done["source"]["size"] == len(speech)  # the whole body came through
        assert done["language"] == "en"
        words = [w for s in done["document"]["segments"] for w in s["words"]]
        assert len(words) == pytest.approx(len(SPOKEN.split()), abs=2)
        assert all(0.0 <= w["start"] <= w["end"] <= done["duration"] for w in words)
        assert done["credits_charged"] == 1
        assert await balance(ts_settings.billing_url, tokens, tenant) == (available - 1, 0)

        refused = await http.post(
            "/v1/transcripts/files", content=speech,
            headers={"X-API-Key": reader, "Content-Type": "audio/wav", "Idempotency-Key": "r"},
        )  # fmt: skip
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("/forbidden")
        loopback = await http.post(
            "/v1/transcripts",
            json={"source": {"url": "http://127.0.0.1:9/talk.wav"}},
            headers={"X-API-Key": writer, "Idempotency-Key": "loopback"},
        )
        assert loopback.status_code == 400, loopback.text
        assert loopback.headers["content-type"].startswith("application/problem+json")
        assert loopback.json()["type"].endswith("/url-not-allowed")

        _, other_token = await _signup(http, "Others")
        other = await _api_key(http, other_token, ["transcripts:read"])
        hidden = await http.get(path, headers={"X-API-Key": other})
        assert hidden.status_code == 404, hidden.text
        theirs = await http.get("/v1/transcripts", headers={"X-API-Key": other})
        assert theirs.json()["items"] == []
