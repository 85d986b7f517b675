"""ai_orchestration's bodies for knowledge bases and their documents: a knowledge base made
with its embedding model (rag_engine's id of it; None, the installation's default for new
knowledge bases), changed (name, description), shown; a document sent as JSON content (text,
Markdown, HTML; the file itself goes as the raw body). Documents are answered as rag_engine
shows them (``contracts.rag.DocumentInfo``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from v100.contracts.rag import DocumentInfo
from v100.kit.http import Listing, refusing_null
from v100.kit.text import Line, Paragraphs

__all__ = [
    "KnowledgeBaseCreate",
    "KnowledgeBaseDocumentIn",
    "KnowledgeBaseDocumentPage",
    "KnowledgeBaseOut",
    "KnowledgeBasePage",
    "KnowledgeBaseUpdate",
]

Name = Annotated[Line, Field(min_length=1, max_length=200)]
Description = Annotated[Paragraphs, Field(max_length=2000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KnowledgeBaseCreate(_Body):
    name: Name
    description: Description = ""
    # rag_engine's id of the model its passages are embedded with, chosen now and kept
    # (``minilm-l6-v2-int8``, the local one; ``openai/text-embedding-3-small`` when the
    # installation has OpenAI's key). None: the installation's default for new knowledge bases.
    embedding_model: Annotated[Line, Field(min_length=1, max_length=100)] | None = None


class KnowledgeBaseUpdate(_Body):
    """Fields left out keep their value; the embedding model cannot change."""

    name: Name | None = None
    description: Description | None = None

    _kept = refusing_null("name", "description")


class KnowledgeBaseOut(BaseModel):
    id: str
    name: str
    description: str
    embedding_model: str
    dimension: int
    created_at: datetime
    updated_at: datetime


KnowledgeBasePage = Listing[KnowledgeBaseOut]


class KnowledgeBaseDocumentIn(_Body):
    """A document sent as JSON (``Content-Type: application/json``). The same ``external_id``
    again replaces it when its content or metadata changed."""

    content: Annotated[Paragraphs, Field(min_length=1, max_length=20_000_000)]
    format: Literal["text", "markdown", "html"] = "text"
    title: Name | None = None
    external_id: Name | None = None
    # Up to 32 keys, each a string, number or boolean (rag_engine checks them).
    metadata: Annotated[dict[str, str | bool | int | float], Field(max_length=32)] = Field(
        default_factory=dict
    )


KnowledgeBaseDocumentPage = Listing[DocumentInfo]
