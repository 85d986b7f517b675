"""Fixtures for ai_orchestration's tests: the real app (real migrations, middleware, jobs) on
SQLite ("embedded") and on PostgreSQL ("distributed"), next to the session's real billing app
so credit holds are real, and the fake vendors (Anthropic, OpenAI, Gemini) served on loopback
with scripted replies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from tests.support.billed import Backend
from v100.kit.testing.fakes.anthropic import AnthropicFake
from v100.kit.testing.fakes.gemini import GeminiFake
from v100.kit.testing.fakes.openai import OpenAIFake
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import dead_url, serving
from v100.services.ai_orchestration.app import create_app
from v100.services.ai_orchestration.settings import AiOrchestrationSettings

from .support import ANTHROPIC_KEY, GEMINI_KEY, INTERNAL_SECRET, OPENAI_KEY, Fakes, Orchestra


@pytest.fixture
def internal_secret() -> str:
    return INTERNAL_SECRET


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    made = Fakes(
        anthropic=AnthropicFake(api_key=ANTHROPIC_KEY),
        openai=OpenAIFake(api_key=OPENAI_KEY),
        gemini=GeminiFake(api_key=GEMINI_KEY),
    )
    async with (
        serving(made.anthropic.app, lifespan="off") as anthropic,
        serving(made.openai.app, lifespan="off") as openai,
        serving(made.gemini.app, lifespan="off") as gemini,
    ):
        made.urls = {"anthropic": anthropic, "openai": openai + "/v1", "gemini": gemini}
        yield made


@pytest.fixture
def operator_keys() -> bool:
    """Whether the operator's default keys are configured (a test overrides it to say no)."""
    return True


@pytest.fixture
def rag_engine_url() -> str:
    """Where rag_engine answers: nowhere, unless a test module serves a real one
    (``test_knowledge_bases.py``)."""
    return dead_url()


@pytest.fixture
def ao_settings(
    backend: Backend, billing_url: str, fakes: Fakes, operator_keys: bool, rag_engine_url: str
) -> AiOrchestrationSettings:
    keys: dict[str, object] = {}
    if operator_keys:
        keys = {
            "anthropic_api_key": SecretStr(ANTHROPIC_KEY),
            "openai_api_key": SecretStr(OPENAI_KEY),
            "gemini_api_key": SecretStr(GEMINI_KEY),
        }
    return AiOrchestrationSettings(
        platform=backend.platform,
        billing_url=billing_url,
        rag_engine_url=rag_engine_url,
        anthropic_base_url=fakes.urls["anthropic"],
        openai_base_url=fakes.urls["openai"],
        gemini_base_url=fakes.urls["gemini"],
        provider_url_allow_cidrs=["127.0.0.0/8"],
        provider_max_retries=0,
        **keys,  # type: ignore[arg-type]
    )


@pytest.fixture
async def ao(ao_settings: AiOrchestrationSettings, fakes: Fakes) -> AsyncIterator[Orchestra]:
    app = create_app(ao_settings)
    async with running_app(app) as http:
        yield Orchestra(app=app, http=http, settings=ao_settings, fakes=fakes)
