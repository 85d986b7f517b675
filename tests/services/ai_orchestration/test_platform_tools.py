"""An agent's platform_api tools with a real video_processing on loopback: the model asks for
``videos_list`` and is answered the caller's own listing; a caller whose key lacks
``videos:read`` gets the service's 403 as the tool's error (never more than the caller's
scopes), which the model reads and answers from; an id that is not an id never reaches a path."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.support.billed import Backend
from v100.kit.auth import Principal
from v100.kit.db import drop_database
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.fakes.anthropic import ScriptedCall
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import serving
from v100.services.ai_orchestration.app import create_app
from v100.services.ai_orchestration.settings import AiOrchestrationSettings
from v100.services.video_processing.app import create_app as create_videos
from v100.services.video_processing.settings import VideoProcessingSettings

from .support import Fakes, Orchestra, new_tenant

# The module's app per backend (``ao``) and the vendors' servers live on the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def videos_url(backend: Backend) -> AsyncIterator[str]:
    database_url = f"sqlite+aiosqlite:///{backend.platform.var_dir}/video_processing.db"
    if backend.name != "embedded":
        admin = postgres_admin_url()
        assert admin is not None
        database_url = fresh_postgres_url(admin)
    settings = VideoProcessingSettings(platform=backend.platform, database_url=database_url)
    try:
        async with serving(create_videos(settings), ready=True) as url:
            yield url
    finally:
        if backend.name != "embedded":
            await drop_database(database_url)


@pytest_asyncio.fixture(loop_scope="module")
async def orchestra(
    ao_settings: AiOrchestrationSettings, fakes: Fakes, videos_url: str
) -> AsyncIterator[Orchestra]:
    settings = ao_settings.model_copy(update={"platform_urls": {"video_processing": videos_url}})
    app = create_app(settings)
    async with running_app(app) as http:
        yield Orchestra(app=app, http=http, settings=settings, fakes=fakes)


async def test_platform_tools_read_with_the_callers_own_scopes(orchestra: Orchestra) -> None:
    ao, tenant = orchestra, new_tenant()
    agent = await ao.create_agent(
        tenant, tools=[{"type": "platform_api", "operations": ["videos.list", "videos.get"]}]
    )
    body = {"model": f"agent:{agent['id']}", "messages": [{"role": "user", "content": "Videos?"}]}

    ao.fakes.anthropic.reply(tool_calls=[ScriptedCall("videos_list", {"limit": 5})])
    ao.fakes.anthropic.reply("You have no videos.")
    answer = await ao.http.post("/v1/chat/completions", json=body, headers=ao.headers(tenant))
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "You have no videos."
    offered = {t["name"] for t in ao.fakes.anthropic.requests[-2].body["tools"]}
    assert offered == {"videos_list", "videos_get"}
    result = ao.fakes.anthropic.requests[-1].body["messages"][-1]["content"][0]
    assert result["type"] == "tool_result"
    assert not result.get("is_error")
    assert json.loads(result["content"]) == {"items": [], "next_cursor": None}

    # A key that may chat but not read videos: the service refuses it, the model is told.
    chatter = Principal(tenant_id=tenant, api_key_id="k1", scopes=frozenset({"chat:write"}))
    ao.fakes.anthropic.reply(tool_calls=[ScriptedCall("videos_list", {})])
    ao.fakes.anthropic.reply("I may not read your videos.")
    refused = await ao.http.post(
        "/v1/chat/completions", json=body, headers=ao.headers(tenant, principal=chatter)
    )
    assert refused.status_code == 200, refused.text
    result = ao.fakes.anthropic.requests[-1].body["messages"][-1]["content"][0]
    assert result.get("is_error") is True
    assert "403" in json.dumps(result)

    # An id is an id: a path of the model's own is refused before any call.
    ao.fakes.anthropic.reply(tool_calls=[ScriptedCall("videos_get", {"video_id": "../../x"})])
    ao.fakes.anthropic.reply("No such video.")
    await ao.http.post("/v1/chat/completions", json=body, headers=ao.headers(tenant))
    result = ao.fakes.anthropic.requests[-1].body["messages"][-1]["content"][0]
    assert result.get("is_error") is True
    assert "is not an id" in json.dumps(result)
