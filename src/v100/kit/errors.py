"""The platform's error hierarchy. Domain code raises these; the app factory renders every one of
them, and every other failure, as an RFC 9457 ``application/problem+json`` answer.

    ProblemError
     ├── BadRequest            400  bad-request
     ├── Unauthorized          401  unauthorized
     ├── Forbidden             403  forbidden
     ├── NotFound              404  not-found
     ├── MethodNotAllowed      405  method-not-allowed
     ├── RequestTimeout        408  request-timeout     (the connection is closed)
     ├── Conflict              409  conflict
     ├── PayloadTooLarge       413  payload-too-large
     ├── UnsupportedMediaType  415  unsupported-media-type
     ├── ValidationFailed      422  validation-failed
     ├── RateLimited           429  rate-limited        (Retry-After)
     ├── HeadersTooLarge       431  headers-too-large   (the connection is closed)
     ├── InternalError         500  internal
     ├── UpstreamUnavailable   503  upstream-unavailable (Retry-After)
     ├── HttpVersionUnsupported 505 http-version-not-supported
     └── BackendUnavailable    503  backend-unavailable  (our own database, bus, cache or storage)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "BackendUnavailable",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "HeadersTooLarge",
    "HttpVersionUnsupported",
    "InternalError",
    "MethodNotAllowed",
    "NotConfigured",
    "NotFound",
    "PayloadTooLarge",
    "PaymentRequired",
    "ProblemError",
    "RateLimited",
    "RequestTimeout",
    "Unauthorized",
    "UnsupportedMediaType",
    "UpstreamUnavailable",
    "ValidationFailed",
    "problem_type",
]

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_type(slug: str) -> str:
    """The stable ``type`` URI of a problem; relative, documented in docs/api.md."""
    return f"/problems/{slug}"


class ProblemError(Exception):
    status: int = 500
    slug: str = "internal"
    title: str = "Internal server error"
    # True for a problem with the connection itself (a stalled body, oversized or malformed
    # headers): the answer says ``Connection: close`` and the server closes it.
    closes_connection: bool = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        if self.closes_connection:
            self.headers["Connection"] = "close"

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": problem_type(self.slug),
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(ProblemError):
    status = 400
    slug = "bad-request"
    title = "Bad request"


class Unauthorized(ProblemError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"


class PaymentRequired(ProblemError):
    """What was asked needs a payment method on file (or the operator's grant) first."""

    status = 402
    slug = "payment-required"
    title = "Payment required"


class Forbidden(ProblemError):
    status = 403
    slug = "forbidden"
    title = "Not allowed"


class NotFound(ProblemError):
    status = 404
    slug = "not-found"
    title = "Not found"


class MethodNotAllowed(ProblemError):
    status = 405
    slug = "method-not-allowed"
    title = "Method not allowed"


class RequestTimeout(ProblemError):
    """The request's body stopped coming (an idle client); the connection is closed after."""

    status = 408
    slug = "request-timeout"
    title = "Request body timed out"
    closes_connection = True


class Conflict(ProblemError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class PayloadTooLarge(ProblemError):
    status = 413
    slug = "payload-too-large"
    title = "Request body too large"


class UnsupportedMediaType(ProblemError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class ValidationFailed(ProblemError):
    status = 422
    slug = "validation-failed"
    title = "Request validation failed"


class _RetryAfter(ProblemError):
    def __init__(
        self,
        detail: str | None = None,
        *,
        retry_after: int | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        merged = dict(headers or {})
        if retry_after is not None:
            merged["Retry-After"] = str(max(0, int(retry_after)))
        super().__init__(detail, extra=extra, headers=merged)
        self.retry_after = retry_after


class RateLimited(_RetryAfter):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"


class HeadersTooLarge(ProblemError):
    status = 431
    slug = "headers-too-large"
    title = "Request header fields too large"
    closes_connection = True


class HttpVersionUnsupported(ProblemError):
    status = 505
    slug = "http-version-not-supported"
    title = "HTTP version not supported"
    closes_connection = True


class InternalError(ProblemError):
    pass


class NotConfigured(ProblemError):
    """The installation lacks what this needs (an outside vendor's key): 501, since asking
    again cannot help, and the gateway neither retries it nor counts it against the service's
    health (a 503 tripped its breaker for every tenant)."""

    status = 501
    slug = "not-configured"
    title = "Not configured on this installation"


class UpstreamUnavailable(_RetryAfter):
    status = 503
    slug = "upstream-unavailable"
    title = "Upstream service unavailable"


class BackendUnavailable(_RetryAfter):
    status = 503
    slug = "backend-unavailable"
    title = "A backing store is unavailable"
