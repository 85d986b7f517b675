"""What the services' tests share: ``backend``, a service on each backend pair (embedded:
SQLite and local disk; distributed: PostgreSQL and S3) for the packages that say which internal
secret their service uses (an ``internal_secret`` fixture), with the session's real billing app
for that backend beside it (``billing_url``; see ``tests.support.billed``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.billed import BACKENDS, Backend, SharedBilling, billed_backend


@pytest.fixture(scope="session")
def shared_billing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedBilling]:
    billing = SharedBilling(tmp_path_factory.mktemp("shared-billing"))
    try:
        yield billing
    finally:
        billing.close()


@pytest.fixture(params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, internal_secret: str
) -> AsyncIterator[Backend]:
    """SQLite + local disk, or PostgreSQL + S3 (skipped when those servers are not given)."""
    async with billed_backend(request.param, internal_secret, tmp_path) as made:
        yield made


@pytest.fixture
def billing_url(backend: Backend, shared_billing: SharedBilling) -> str:
    """The session's billing app on this backend: tenants are the test's own."""
    return shared_billing.url(backend)
