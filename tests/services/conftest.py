"""What the services' tests share: one real billing app per backend for the whole session,
beside the services that hold credits (``shared_billing``; see ``tests.support.billed``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.billed import SharedBilling


@pytest.fixture(scope="session")
def shared_billing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedBilling]:
    billing = SharedBilling(tmp_path_factory.mktemp("shared-billing"))
    try:
        yield billing
    finally:
        billing.close()
