"""Through the real gateway with API keys, as a customer would: the audio file streamed in as
the raw body of ``POST /v1/transcripts/files``, the transcript followed until it completes with
word timings and the language; a read-only key may read but not create; a loopback URL is
refused with the problem the service gives; another tenant sees nothing. The transcription app
on a loopback port, on both backends, with the session's real billing app."""

from __future__ import annotations

import asyncio
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
from v100.services.gateway.testing import CHEAP_ARGON2, JWT_SECRET, UNTHROTTLED, Gateway
from v100.services.transcription.app import create_app
from v100.services.transcription.settings import TranscriptionSettings

from .conftest import SPOKEN
from .support import INTERNAL_SECRET, SETTLED

pytestmark = pytest.mark.slow


@asynccontextmanager
async def gateway_in_front_of(service_url: str, var_dir: Path) -> AsyncIterator[Gateway]:
    """The real gateway routing /v1/transcripts to ``service_url`` (every other service
    nowhere), sharing the service's internal secret; once ready."""
    upstreams = {i.name: dead_url() for i in SERVICES if i.name != "gateway"}
    upstreams["transcription"] = service_url
    settings = GatewaySettings(
        platform=PlatformSettings(var_dir=var_dir, internal_token_secret=INTERNAL_SECRET),
        database_url=f"sqlite+aiosqlite:///{var_dir}/gateway.db",
        jwt_secret=JWT_SECRET, upstreams=upstreams, **CHEAP_ARGON2, **UNTHROTTLED,
    )  # fmt: skip
    app = create_gateway(settings)
    async with (
        serving(app, ready=True) as url,
        httpx.AsyncClient(base_url=url, timeout=60, trust_env=False) as http,
    ):
        yield Gateway(app=app, http=http, settings=settings)


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
        gateway_in_front_of(service_url, tmp_path / "gateway") as gateway,
    ):
        http = gateway.http
        owner = await gateway.signup(tenant_name="Transcripts")
        tenant = owner.tenant_id
        writer = (await gateway.create_key(owner.headers, ["transcripts:write"]))["key"]
        reader = (await gateway.create_key(owner.headers, ["transcripts:read"]))["key"]
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

        others = await gateway.signup(tenant_name="Others")
        other = (await gateway.create_key(others.headers, ["transcripts:read"]))["key"]
        hidden = await http.get(path, headers={"X-API-Key": other})
        assert hidden.status_code == 404, hidden.text
        theirs = await http.get("/v1/transcripts", headers={"X-API-Key": other})
        assert theirs.json()["items"] == []
