"""Renders every failure as RFC 9457 problem+json: our ProblemErrors, FastAPI's validation errors,
Starlette's routing errors, and anything unexpected (500, logged, never a stack trace)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from v100.kit.errors import (
    PROBLEM_CONTENT_TYPE,
    BadRequest,
    MethodNotAllowed,
    NotFound,
    ProblemError,
    ValidationFailed,
)
from v100.kit.observability import current_request_id

__all__ = ["VENDOR_NOT_CONFIGURED", "install_problem_handlers", "problem_response"]

# ``responses=`` of a route that needs an outside vendor (Stripe, ...): without its key the
# route answers 501 ``not-configured`` (kit.errors.NotConfigured), and the API description
# says so.
VENDOR_NOT_CONFIGURED: dict[int | str, dict[str, Any]] = {
    501: {
        "description": "The vendor this needs is not configured on this installation "
        "(problem+json, /problems/not-configured).",
        "content": {PROBLEM_CONTENT_TYPE: {}},
    }
}

_BY_STATUS: dict[int, type[ProblemError]] = {
    cls.status: cls for cls in (BadRequest, NotFound, MethodNotAllowed, ValidationFailed)
}


def problem_response(error: ProblemError, instance: str | None = None) -> Response:
    body = error.to_problem(instance)
    request_id = current_request_id.get()
    if request_id:
        body.setdefault("request_id", request_id)
    return Response(
        orjson.dumps(body),
        status_code=error.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=error.headers,
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        errors.append(
            {
                "loc": [str(part) for part in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return errors


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc, request.url.path)


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    if any(err["type"] == "json_invalid" for err in errors):
        problem: ProblemError = BadRequest(
            "The request body is not valid JSON.", extra={"errors": errors}
        )
    else:
        problem = ValidationFailed(
            "The request did not match the expected shape.", extra={"errors": errors}
        )
    return problem_response(problem, request.url.path)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    problem_cls = _BY_STATUS.get(exc.status_code)
    if problem_cls is None:
        problem: ProblemError = _AdHocProblem(exc.status_code, str(exc.detail))
    else:
        detail = (
            None if exc.detail in (None, "Not Found", "Method Not Allowed") else str(exc.detail)
        )
        problem = problem_cls(detail)
    if exc.headers:
        problem.headers.update(exc.headers)
    return problem_response(problem, request.url.path)


class _AdHocProblem(ProblemError):
    """A framework error with a status we have no class for (rare: 406, 416...)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = detail or "Error"


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
