"""One backend per test module for the media services' tests (media_processor,
video_processing, transcription, video_analysis): ``module_backend`` is ``backend``
(tests/services/conftest.py) made once per module and backend pair instead of once per test,
with ``module_billing_url``, the session's billing app on it. A package's conftest imports
both and builds its app on them once per module (``pytest_asyncio.fixture(scope="module",
loop_scope="module")``); the module's tests run on the module's loop
(``pytest.mark.asyncio(loop_scope="module")``) and stay apart by tenant, each working for
tenants of its own. A test that needs settings, a database or a directory of its own still
takes ``backend``.

Synchronous, as ``module_database_url`` (kit.testing.db): it belongs to no event loop; the
database is dropped and the S3 prefix emptied on loops of their own after the module's last
test. The ids are ``backend``'s: ``[embedded]``, ``[distributed]``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.support.billed import BACKENDS, Backend, SharedBilling, provision

__all__ = ["made_module_backend", "module_backend", "module_billing_url"]


@pytest.fixture(scope="module", params=BACKENDS)
def module_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, internal_secret: str
) -> Iterator[Backend]:
    """SQLite + local disk, or PostgreSQL + S3 (skipped when those servers are not given), for
    the module's tests together. ``internal_secret`` must be session-scoped."""
    yield from made_module_backend(request, tmp_path_factory, internal_secret)


def made_module_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, internal_secret: str
) -> Iterator[Backend]:
    """``module_backend``'s body, for a module that overrides the fixture (its params marked,
    say, to skip a backend before anything is made for it)."""
    var_dir = tmp_path_factory.mktemp(f"module-{request.param}")
    made = provision(request.param, internal_secret, var_dir)
    try:
        yield Backend(request.param, made.platform)
    finally:
        asyncio.run(made.remove())


@pytest.fixture(scope="module")
def module_billing_url(module_backend: Backend, shared_billing: SharedBilling) -> str:
    """The session's billing app on the module's backend."""
    return shared_billing.url(module_backend)
