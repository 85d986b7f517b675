"""rag_engine's request and response bodies: a document's creation from JSON content (text,
Markdown or HTML) and the document as the API shows it; a search and its ranked passages; a
question and its answer with numbered citations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from v100.kit.http import Listing
from v100.kit.text import Line, Paragraphs

__all__ = [
    "Citation",
    "DocumentCreate",
    "DocumentError",
    "DocumentOut",
    "DocumentPage",
    "DocumentSource",
    "ExternalId",
    "KnowledgeBaseId",
    "Metadata",
    "Passage",
    "RagAnswer",
    "RagRequest",
    "SearchRequest",
    "SearchResults",
    "Title",
    "TranscriptRef",
]

# A knowledge base's id, as ai_orchestration (or the tenant) names it.
KnowledgeBaseId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]
ExternalId = Annotated[Line, Field(min_length=1, max_length=200)]
Title = Annotated[Line, Field(min_length=1, max_length=200)]
# Metadata a search filters on: up to 32 keys (not starting with "_", kept for the service),
# each a string, number or boolean.
MetadataKey = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
]
MetadataValue = (
    Annotated[Line, Field(max_length=500)]
    | bool
    | Annotated[int, Field(ge=-(2**53), le=2**53)]
    | Annotated[float, Field(ge=-1e300, le=1e300)]
)
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=32)]
KnowledgeBaseIds = Annotated[list[KnowledgeBaseId], Field(min_length=1, max_length=20)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TranscriptRef(_Body):
    """A completed transcript of the transcription service, by its id."""

    transcript_id: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")
    ]


class DocumentCreate(_Body):
    """``POST /v1/documents``: ``content`` in ``format``, or a ``source`` (a completed
    transcript: its passages keep their seconds in the recording), into the knowledge base.
    The same ``external_id`` again replaces the document when its content or metadata changed,
    and is no work when they did not; without one, the same content is the same document."""

    knowledge_base_id: KnowledgeBaseId
    content: Annotated[Paragraphs, Field(min_length=1, max_length=20_000_000)] | None = None
    source: TranscriptRef | None = None
    format: Literal["text", "markdown", "html"] = "text"
    title: Title | None = None
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> DocumentCreate:
        if (self.content is None) == (self.source is None):
            raise ValueError("give either content or source, not both or neither")
        if self.source is not None and "format" in self.model_fields_set:
            raise ValueError("a transcript is read as a transcript: leave format out")
        return self


class DocumentSource(BaseModel):
    kind: Literal["content", "upload", "transcript"]
    name: str | None
    content_type: str | None
    size: int
    transcript_id: str | None = None  # kind "transcript": the transcript it was read from


class DocumentError(BaseModel):
    type: str
    detail: str | None


class DocumentOut(BaseModel):
    """A document: ``status`` moves queued -> parsing -> embedding -> ready | failed; a new
    revision starts again at queued while the previous one's passages stay searchable."""

    id: str
    knowledge_base_id: str
    external_id: str | None
    title: str | None
    format: Literal["text", "markdown", "html", "pdf", "transcript"]
    source: DocumentSource
    metadata: dict[str, str | bool | int | float]
    status: Literal["queued", "parsing", "embedding", "ready", "failed"]
    revision: int
    page_count: int | None
    chunk_count: int | None
    token_count: int | None
    credits_charged: int | None
    error: DocumentError | None
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None


DocumentPage = Listing[DocumentOut]


class SearchRequest(_Body):
    """Passages of the named knowledge bases (the caller's own; others' ids find nothing)
    ranked by ``mode``: ``vector`` (cosine of embeddings), ``fulltext`` (words, BM25-like) or
    ``hybrid`` (both fused by reciprocal rank). ``filter``: metadata every passage's document
    must have (equality per key)."""

    query: Annotated[Paragraphs, Field(min_length=1, max_length=2000)]
    knowledge_base_ids: KnowledgeBaseIds
    k: Annotated[int, Field(ge=1, le=50)] = 10
    mode: Literal["vector", "fulltext", "hybrid"] = "hybrid"
    filter: Metadata = Field(default_factory=dict)
    # Re-rank the candidates by MMR on their embeddings (docs/rag-engine.md, "Re-ranking").
    rerank: bool = False


class Passage(BaseModel):
    """A passage (chunk) of a document: where it is (heading path, page, position) and how it
    ranked. ``score``: cosine similarity (vector), text rank (fulltext) or fused reciprocal
    rank (hybrid); ``vector_rank`` / ``fulltext_rank``: its place in each list (hybrid);
    ``rerank_score`` when re-ranked."""

    number: int
    document_id: str
    knowledge_base_id: str
    document_title: str | None
    position: int
    heading_path: list[str]
    page: int | None
    text: str
    metadata: dict[str, str | bool | int | float]
    # A transcript's passage: where it is in the recording, in seconds.
    start_seconds: float | None = None
    end_seconds: float | None = None
    score: float
    vector_rank: int | None
    fulltext_rank: int | None
    # With ``rerank``: its relevance to the question (cosine plus a nudge for shared words);
    # the order is MMR's, which also weighs how much it repeats the passages before it.
    rerank_score: float | None = None


class SearchResults(BaseModel):
    mode: Literal["vector", "fulltext", "hybrid"]
    passages: list[Passage]


class RagRequest(_Body):
    """A question answered from the top ``k`` passages of the named knowledge bases."""

    question: Annotated[Paragraphs, Field(min_length=1, max_length=2000)]
    knowledge_base_ids: KnowledgeBaseIds
    k: Annotated[int, Field(ge=1, le=20)] = 5
    filter: Metadata = Field(default_factory=dict)
    rerank: bool = False
    # Answer as Server-Sent Events (docs/rag-engine.md: passages, delta, citations, done, error).
    stream: bool = False


class Citation(BaseModel):
    """``[number]`` in the answer: the passage it refers to, where that is (document, heading
    path, page, a transcript's seconds) and, in an extractive answer, the words quoted from it
    (None when an LLM wrote the answer)."""

    number: int
    document_id: str
    knowledge_base_id: str
    document_title: str | None
    position: int
    heading_path: list[str]
    page: int | None
    start_seconds: float | None
    end_seconds: float | None
    quote: str | None


class RagAnswer(BaseModel):
    """``answer`` cites ``passages`` by number; None when nothing in them answers the
    question. ``llm``: the model that wrote the answer, None when no LLM is configured (the
    answer is then quoted sentences, as ``note`` says). ``invented_citations``: numbers the
    model cited that name no passage (taken out of the text). ``credits_charged``: what the
    LLM's tokens cost (None when nothing was charged)."""

    question: str
    answer: str | None
    citations: list[Citation]
    passages: list[Passage]
    llm: str | None
    note: str
    invented_citations: list[int] = Field(default_factory=list)
    credits_charged: int | None = None
