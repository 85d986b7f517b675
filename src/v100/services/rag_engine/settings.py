"""rag_engine's own settings (prefix ``V100_RAG_ENGINE_``)."""

from typing import ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from v100.contracts.topology import service_info
from v100.kit.settings import ServiceSettings

MiB = 1024 * 1024


class RagEngineSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_RAG_ENGINE_", extra="ignore")
    service: ClassVar[str] = "rag_engine"
    port: int = 3011

    # The largest document taken, as an uploaded file (413 while it streams in) or as the
    # ``content`` of a JSON body (counted in UTF-8 bytes).
    max_document_bytes: int = Field(default=20 * MiB, ge=1)
    # Chunks: at most this many cl100k tokens, consecutive chunks overlapping by whole sentences
    # up to ``chunk_overlap`` tokens. 180 cl100k tokens stay under the 256 WordPiece tokens
    # MiniLM reads for English text.
    chunk_tokens: int = Field(default=180, ge=32, le=2000)
    chunk_overlap: int = Field(default=30, ge=0, le=500)
    # The embedding model of new knowledge bases: "local" (all-MiniLM-L6-v2 int8, 384-d) or
    # "openai" (``openai_embedding_model``; needs ``openai_api_key``). A knowledge base keeps
    # the model it was created with.
    embedding_backend: Literal["local", "openai"] = "local"
    openai_api_key: SecretStr | None = None
    # Where OpenAI's API is (a compatible server; tests point it at a local fake).
    openai_base_url: str | None = None
    openai_embedding_model: str = "text-embedding-3-small"
    # Shortened vectors (text-embedding-3 models); None: the model's own dimension.
    openai_embedding_dimensions: int | None = Field(default=None, ge=1, le=2000)
    # Where transcription is (a transcript as a source: its completed document).
    transcription_url: str = service_info("transcription").url
    # Billing: embedding a document holds credits per started 1,000 tokens (docs/rag-engine.md).
    billing_url: str = service_info("billing").url
    credits_per_1k_tokens: int = Field(default=1, ge=0)
    billing_enabled: bool = True
    # The LLM that writes answers (``/v1/rag``) from the passages, with numbered citations:
    # the operator's own provider and key (tenants' keys stay sealed in ai_orchestration,
    # ADR 0047). None: answers are extractive (quoted sentences) and say so.
    llm_provider: Literal["anthropic", "openai", "gemini"] | None = None
    llm_api_key: SecretStr | None = None
    # Where the provider's API is (an OpenAI-compatible server; tests point it at a fake).
    llm_base_url: str | None = None
    llm_model: str | None = None  # None: the provider's default (``DEFAULT_MODELS``)
    llm_max_tokens: int = Field(default=1024, ge=16, le=32_000)
    llm_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    # Credits per 1,000 tokens of an answer: read (the question and passages) and written.
    llm_credits_per_1k_input: float = Field(default=1.0, ge=0, le=10_000)
    llm_credits_per_1k_output: float = Field(default=4.0, ge=0, le=10_000)
    # Re-ranking (``"rerank": true``): how many candidates are re-ranked by MMR on their
    # embeddings, and its balance between relevance (1.0) and novelty (0.0).
    rerank_candidates: int = Field(default=30, ge=1, le=200)
    rerank_balance: float = Field(default=0.7, ge=0.0, le=1.0)
    # A job whose runner stops heartbeating this long is run again (a killed worker).
    job_lease_seconds: float = Field(default=120.0, ge=1.0, le=3600.0)
