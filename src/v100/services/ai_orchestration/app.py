"""Builds the ai_orchestration app: the tenants' provider keys and agents with their versions under
/v1/agents, knowledge bases and their documents (rag_engine's) under /v1/knowledge-bases,
conversations with an agent, the Training Sandbox (test sets, runs as jobs, comparisons),
OpenAI-compatible chat at /v1/chat/completions, its jobs, and the resources its endpoints and
jobs share (keys, chat model clients, billing, token budgets), closed at shutdown."""

from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, ServiceSpec, create_service_app
from v100.kit.jobs import running_jobs
from v100.services.ai_orchestration import tasks
from v100.services.ai_orchestration.api import agents_router, providers_router
from v100.services.ai_orchestration.chat_api import chat_router
from v100.services.ai_orchestration.conversations_api import conversations_router
from v100.services.ai_orchestration.knowledge_bases_api import BODY_LIMITS, knowledge_bases_router
from v100.services.ai_orchestration.models import Base
from v100.services.ai_orchestration.resources import RESOURCES
from v100.services.ai_orchestration.sandbox_api import test_runs_router, test_sets_router
from v100.services.ai_orchestration.settings import AiOrchestrationSettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    lease = settings.job_lease_seconds
    return create_service_app(
        ServiceSpec(
            settings,
            title="V100 ai_orchestration",
            description="Agents with immutable versions, the tenants' provider keys, "
            "knowledge bases, conversations, the Training Sandbox and an OpenAI-compatible chat "
            "endpoint.",
            # The fixed paths under /v1/agents before the agents' /{agent_id}.
            routers=[
                providers_router,
                test_sets_router,
                agents_router,
                conversations_router,
                test_runs_router,
                chat_router,
                knowledge_bases_router,
            ],
            database=DATABASE,
            body_limits=BODY_LIMITS,
            components=[
                RESOURCES.installed(settings),
                running_jobs(tasks.jobs, lease_seconds=lease, sweep_interval=min(15.0, lease / 2)),
            ],
        )
    )
