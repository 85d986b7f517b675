"""rag_engine's problems (RFC 9457 types under ``/problems/``, listed in docs/rag-engine.md):

    DocumentNotFound        404  not-found
    CollectionNotFound      404  not-found                    (no such knowledge base collection)
    DocumentTooLarge        413  document-too-large           (a file or content over the limit)
    EmptyDocument           422  document-empty               (an upload with no bytes)
    FormatUnsupported       415  document-format-unsupported  (a file type not read here)
    MixedEmbeddingModels    422  knowledge-bases-mixed-models (one search, two vector spaces)
    (kit) NotConfigured     501  not-configured               (OpenAI embeddings, no key)

``DocumentFailed`` is not raised over HTTP: it carries the slug a failed document shows in
``error`` (``document-empty``, ``document-unreadable``, ``document-not-utf8``,
``pdf-encrypted``, ``pdf-unsupported``, ``embedding-refused``,
``embedding-model-unavailable``, ``insufficient-credits``, ``billing-refused``,
``billing-unavailable``, ``ingestion-failed``)."""

from __future__ import annotations

from v100.kit.errors import (
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

__all__ = [
    "CollectionNotFound",
    "DocumentFailed",
    "DocumentNotFound",
    "DocumentTooLarge",
    "EmptyDocument",
    "FormatUnsupported",
    "MixedEmbeddingModels",
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
