"""rag_engine's problems (RFC 9457 types under ``/problems/``, listed in docs/rag-engine.md):

    DocumentNotFound        404  not-found
    CollectionNotFound      404  not-found                    (no such knowledge base collection)
    DocumentTooLarge        413  document-too-large           (a file or content over the limit)
    EmptyDocument           422  document-empty               (an upload with no bytes)
    FormatUnsupported       415  document-format-unsupported  (a file type not read here)
    MixedEmbeddingModels    422  knowledge-bases-mixed-models (one search, two vector spaces)
    KnowledgeBaseNotFound   404  not-found                    (re-embedding: no such collection)
    ReembeddingNotFound     404  not-found
    EmbeddingModelUnavailable 422 embedding-model-unavailable (re-embedding into a model not
                                                                run here, or the one it has)
    ReembeddingConflict     409  reembedding-in-progress
    TranscriptNotFound      404  not-found                    (a transcript source: no such one)
    TranscriptNotFinished   409  transcript-not-finished      (queued, processing or failed)
    (kit) NotConfigured     501  not-configured               (OpenAI embeddings, no key)
    AnswerFailed            by code: 402 insufficient-credits, 403 billing-refused,
                            503 billing-unavailable, 502 provider-refused (the LLM vendor
                            refused the key or the request), 503 provider-unavailable

``DocumentFailed`` is not raised over HTTP: it carries the slug a failed document shows in
``error`` (``document-empty``, ``document-unreadable``, ``document-not-utf8``,
``pdf-encrypted``, ``pdf-unsupported``, ``embedding-refused``,
``embedding-model-unavailable``, ``insufficient-credits``, ``billing-refused``,
``billing-unavailable``, ``ingestion-failed``)."""

from __future__ import annotations

from v100.kit.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    UnsupportedMediaType,
    ValidationFailed,
)

__all__ = [
    "AnswerFailed",
    "CollectionNotFound",
    "DocumentFailed",
    "DocumentNotFound",
    "DocumentTooLarge",
    "EmbeddingModelUnavailable",
    "EmptyDocument",
    "FormatUnsupported",
    "KnowledgeBaseNotFound",
    "MixedEmbeddingModels",
    "ReembeddingConflict",
    "ReembeddingFailed",
    "ReembeddingNotFound",
    "TranscriptNotFinished",
    "TranscriptNotFound",
]


class DocumentNotFound(NotFound):
    title = "No such document"


class CollectionNotFound(NotFound):
    title = "No such collection"


class DocumentTooLarge(PayloadTooLarge):
    slug = "document-too-large"
    title = "The document is larger than allowed"


class EmptyDocument(ValidationFailed):
    slug = "document-empty"
    title = "The document is empty"


class FormatUnsupported(UnsupportedMediaType):
    slug = "document-format-unsupported"
    title = "This kind of file is not read here"


class MixedEmbeddingModels(ValidationFailed):
    slug = "knowledge-bases-mixed-models"
    title = "The knowledge bases use different embedding models"


class DocumentFailed(Exception):
    """Ends a document ``failed`` with ``slug`` and ``detail`` (never retried)."""

    def __init__(self, slug: str, detail: str) -> None:
        super().__init__(f"{slug}: {detail}")
        self.slug = slug
        self.detail = detail


_ANSWER_FAILURES = {
    "insufficient-credits": (402, "Not enough credits"),
    "billing-refused": (403, "Billing refused the hold"),
    "billing-unavailable": (503, "Billing is unavailable"),
    "provider-refused": (502, "The model provider refused the request"),
    "provider-unavailable": (503, "The model provider is unavailable"),
}


class AnswerFailed(ProblemError):
    """An answer the LLM could not write, or that could not be paid for: ``code`` is its
    slug (the credit hold's refusals and the provider's)."""

    def __init__(self, code: str, detail: str, *, retry_after: float | None = None) -> None:
        headers = {} if retry_after is None else {"Retry-After": str(max(1, round(retry_after)))}
        super().__init__(detail, headers=headers)
        self.slug = code
        self.status, self.title = _ANSWER_FAILURES.get(code, (502, "The answer failed"))


class KnowledgeBaseNotFound(NotFound):
    title = "No such knowledge base"


class ReembeddingNotFound(NotFound):
    title = "No such re-embedding"


class EmbeddingModelUnavailable(ValidationFailed):
    slug = "embedding-model-unavailable"
    title = "That embedding model cannot be used here"


class ReembeddingConflict(Conflict):
    slug = "reembedding-in-progress"
    title = "The knowledge base is being re-embedded already"


class ReembeddingFailed(Exception):
    """Ends a re-embedding ``failed`` with ``slug`` and ``detail`` (never retried); the
    knowledge base keeps its model."""

    def __init__(self, slug: str, detail: str) -> None:
        super().__init__(f"{slug}: {detail}")
        self.slug = slug
        self.detail = detail


class TranscriptNotFound(NotFound):
    title = "No such transcript"


class TranscriptNotFinished(Conflict):
    slug = "transcript-not-finished"
    title = "The transcript is not finished"
