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
import uuid
from collections.abc import Iterator

import pytest

from tests.support.billed import BACKENDS, Backend, SharedBilling
from v100.kit.db import drop_database
from v100.kit.settings import PlatformSettings
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.storage import empty_s3_prefix, s3_settings_or_skip

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
    if request.param == "embedded":
        platform = PlatformSettings(
            var_dir=var_dir,
            internal_token_secret=internal_secret,
            database_url=f"sqlite+aiosqlite:///{var_dir}/{{service}}.db",
            storage_url=f"file://{var_dir}/objects",
        )
        yield Backend(request.param, platform)
        return
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("V100_TEST_POSTGRES_URL is not set")
    s3 = s3_settings_or_skip()
    database_url = fresh_postgres_url(admin)
    prefix = f"v100test-{uuid.uuid4().hex[:12]}"
    platform = PlatformSettings(
        var_dir=var_dir,
        internal_token_secret=internal_secret,
        database_url=database_url,
        storage_url=f"s3://{s3['bucket']}/{prefix}",
        s3_endpoint_url=s3["endpoint_url"],
        s3_access_key_id=s3["access_key_id"],
        s3_secret_access_key=s3["secret_access_key"],
    )
    try:
        yield Backend(request.param, platform)
    finally:
        asyncio.run(drop_database(database_url))
        asyncio.run(empty_s3_prefix(prefix))


@pytest.fixture(scope="module")
def module_billing_url(module_backend: Backend, shared_billing: SharedBilling) -> str:
    """The session's billing app on the module's backend."""
    return shared_billing.url(module_backend)
