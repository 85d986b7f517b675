"""ai_orchestration's own settings (prefix ``V100_AI_ORCHESTRATION_``)."""

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from v100.contracts.topology import service_info
from v100.kit.settings import ServiceSettings


class TokenRates(BaseModel):
    """Credits per 1,000 tokens read (the prompt) and written (the reply)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    input: float = Field(default=1.0, ge=0, le=10_000)
    output: float = Field(default=4.0, ge=0, le=10_000)


class AiOrchestrationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_AI_ORCHESTRATION_", extra="ignore")
    service: ClassVar[str] = "ai_orchestration"
    port: int = 3001

    # The operator's own keys, used for every tenant that set none of its own for the provider
    # (docs/ai-orchestration.md, "Provider keys"). Unset: that provider has no default.
    anthropic_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    gemini_api_key: SecretStr | None = None
    # Where the operator's keys are used (None: the vendor's own API). The operator's URLs are
    # trusted as they are; a tenant's OpenAI-compatible base URL is checked (below).
    anthropic_base_url: str | None = None
    openai_base_url: str | None = None
    gemini_base_url: str | None = None
    # Networks a tenant's OpenAI-compatible base URL may reach although they are not public
    # (a self-hoster's own GPU box; loopback in tests). Empty: only public addresses.
    provider_url_allow_cidrs: list[str] = Field(default_factory=list)
    # The provider of an agent created without one, and each provider's model when none is named.
    default_provider: str = "anthropic"
    default_models: dict[str, str] = Field(
        default_factory=lambda: {
            "anthropic": "claude-sonnet-4-5",
            "openai": "gpt-4o-mini",
            "gemini": "gemini-2.5-flash",
        }
    )
    # The reply's length when neither the agent nor the request sets one: every call is sent
    # with a bound, so its hold of credits is bounded too.
    default_max_tokens: int = Field(default=1024, ge=1, le=200_000)
    # Billing: tokens cost credits at these rates (rounded up per call, at least 1 when any
    # token was used). With the operator's key the platform pays the vendor; with a tenant's
    # own key the vendor bills the tenant, and the platform charges ``tenant_key_rates`` (none
    # by default).
    billing_url: str = service_info("billing").url
    # Where knowledge bases' documents and passages live (``contracts.rag``, scope service:rag).
    rag_engine_url: str = service_info("rag_engine").url
    # Where an agent's platform_api tools read, by service (called as the caller, docs).
    platform_urls: dict[str, str] = Field(
        default_factory=lambda: {
            name: service_info(name).url for name in ("video_processing", "transcription")
        }
    )
    billing_enabled: bool = True
    operator_key_rates: TokenRates = TokenRates()
    tenant_key_rates: TokenRates = TokenRates(input=0, output=0)
    # Tokens (read + written) per minute for one caller (a user, or an API key) and for a whole
    # tenant, across every chat route; None: no such limit. The gateway limits requests.
    tokens_per_minute_per_user: int | None = Field(default=200_000, ge=1)
    tokens_per_minute_per_tenant: int | None = Field(default=1_000_000, ge=1)
    # A test run's job: a runner that stops heartbeating this long is presumed dead, and its
    # job is run again (the cases it recorded are not answered twice).
    job_lease_seconds: float = Field(default=120.0, ge=1.0, le=3600.0)
    # The vendor SDK's timeout for one call, and its retries of 429 and 5xx before we answer.
    provider_timeout_seconds: float = Field(default=600.0, gt=0, le=3600)
    provider_max_retries: int = Field(default=2, ge=0, le=10)
    # The agent's tool loop: the model's rounds of tool calls in one answer before it must
    # answer without tools, and the passages one knowledge-base search gives it.
    max_tool_rounds: int = Field(default=5, ge=1, le=20)
    search_passages: int = Field(default=5, ge=1, le=20)
