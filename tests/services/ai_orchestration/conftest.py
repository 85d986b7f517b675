"""Fixtures for ai_orchestration's tests: the real app (real migrations, middleware, jobs) on
SQLite ("embedded") and on PostgreSQL ("distributed"), next to the session's real billing app
so credit holds are real, and the fake vendors (Anthropic, OpenAI, Gemini) served on loopback
with scripted replies.

``ao`` is the app of the module: one per module and backend (``shared_ao``), with the operator's
keys, its tests kept apart by tenant; every test module runs on the module's event loop
(``pytest.mark.asyncio(loop_scope="module")``), where that app's lifespan, engine and jobs live.
``own_ao`` is an app of the test's own, for settings of its own (``operator_keys``). The vendors'
servers are the module's too; each test's fakes are its own (``fakes``), plugged in for it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from pydantic import SecretStr

from tests.support.billed import BACKENDS, Backend, SharedBilling, billed_backend
from tests.support.vendor_servers import VendorServers, vendor_servers
from v100.kit.settings import PlatformSettings
from v100.kit.testing.fakes.anthropic import AnthropicFake
from v100.kit.testing.fakes.gemini import GeminiFake
from v100.kit.testing.fakes.openai import OpenAIFake
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import dead_url
from v100.services.ai_orchestration.app import create_app
from v100.services.ai_orchestration.settings import AiOrchestrationSettings

from .support import ANTHROPIC_KEY, GEMINI_KEY, INTERNAL_SECRET, OPENAI_KEY, Fakes, Orchestra


@pytest.fixture
def internal_secret() -> str:
    return INTERNAL_SECRET


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vendors() -> AsyncIterator[VendorServers]:
    async with vendor_servers("anthropic", "openai", "gemini") as servers:
        yield servers


def plugged_fakes(vendors: VendorServers) -> Fakes:
    """Fakes of their own (no reply, failure or request of another test's), answering at the
    module's vendor servers from now on."""
    made = Fakes(
        anthropic=AnthropicFake(api_key=ANTHROPIC_KEY),
        openai=OpenAIFake(api_key=OPENAI_KEY),
        gemini=GeminiFake(api_key=GEMINI_KEY),
    )
    vendors.plug(anthropic=made.anthropic.app, openai=made.openai.app, gemini=made.gemini.app)
    urls = vendors.urls
    made.urls = {"anthropic": urls["anthropic"], "openai": urls["openai"] + "/v1",
                 "gemini": urls["gemini"]}  # fmt: skip
    return made


@pytest.fixture
def fakes(vendors: VendorServers) -> Fakes:
    return plugged_fakes(vendors)


@pytest.fixture
def operator_keys() -> bool:
    """Whether the operator's default keys are configured (a test overrides it to say no)."""
    return True


@pytest.fixture
def rag_engine_url() -> str:
    """Where rag_engine answers: nowhere, unless a test module serves a real one
    (``test_knowledge_bases.py``)."""
    return dead_url()


def settings_for(
    platform: PlatformSettings,
    billing_url: str,
    vendors: VendorServers,
    rag_engine_url: str,
    operator_keys: bool,
) -> AiOrchestrationSettings:
    keys: dict[str, object] = {}
    if operator_keys:
        keys = {
            "anthropic_api_key": SecretStr(ANTHROPIC_KEY),
            "openai_api_key": SecretStr(OPENAI_KEY),
            "gemini_api_key": SecretStr(GEMINI_KEY),
        }
    return AiOrchestrationSettings(
        platform=platform,
        billing_url=billing_url,
        rag_engine_url=rag_engine_url,
        anthropic_base_url=vendors.urls["anthropic"],
        openai_base_url=vendors.urls["openai"] + "/v1",
        gemini_base_url=vendors.urls["gemini"],
        provider_url_allow_cidrs=["127.0.0.0/8"],
        provider_max_retries=0,
        **keys,  # type: ignore[arg-type]
    )


@pytest.fixture
def ao_settings(
    backend: Backend,
    billing_url: str,
    vendors: VendorServers,
    operator_keys: bool,
    rag_engine_url: str,
) -> AiOrchestrationSettings:
    return settings_for(backend.platform, billing_url, vendors, rag_engine_url, operator_keys)


@pytest_asyncio.fixture(loop_scope="module")
async def own_ao(ao_settings: AiOrchestrationSettings, fakes: Fakes) -> AsyncIterator[Orchestra]:
    app = create_app(ao_settings)
    async with running_app(app) as http:
        yield Orchestra(app=app, http=http, settings=ao_settings, fakes=fakes)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def module_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backend]:
    """``backend`` for the module's app (the test ids are the same: ``[embedded]``,
    ``[distributed]``)."""
    var_dir = tmp_path_factory.mktemp("ai-orchestration")
    async with billed_backend(request.param, INTERNAL_SECRET, var_dir) as made:
        yield made


@pytest.fixture(scope="module")
def module_rag_engine_url() -> str:
    """``rag_engine_url`` for the module's app."""
    return dead_url()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_ao(
    module_backend: Backend,
    shared_billing: SharedBilling,
    vendors: VendorServers,
    module_rag_engine_url: str,
) -> AsyncIterator[Orchestra]:
    """The module's app with the operator's keys; its ``fakes`` are the first test's (``ao``
    gives each test its own)."""
    settings = settings_for(
        module_backend.platform,
        shared_billing.url(module_backend),
        vendors,
        module_rag_engine_url,
        operator_keys=True,
    )
    app = create_app(settings)
    async with running_app(app) as http:
        yield Orchestra(app=app, http=http, settings=settings, fakes=plugged_fakes(vendors))


@pytest.fixture
def ao(shared_ao: Orchestra, fakes: Fakes) -> Orchestra:
    """The module's app, with this test's fakes."""
    return dataclasses.replace(shared_ao, fakes=fakes)
