"""The real Janus of the tests (scripts/services/janus.sh writes ``V100_TEST_JANUS_URL`` and
``V100_TEST_JANUS_SECRET``): a fixture that skips, saying why, when it is not running."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

__all__ = [
    "JANUS_ICE_ADDRESS_ENV",
    "JANUS_SECRET_ENV",
    "JANUS_URL_ENV",
    "JanusServer",
    "janus_server",
]

JANUS_URL_ENV = "V100_TEST_JANUS_URL"
JANUS_SECRET_ENV = "V100_TEST_JANUS_SECRET"  # noqa: S105 (the variable's name)
# Janus gathers no candidate on a loopback interface, and libnice pairs none of 127.0.0.1 with
# the host's address: test peers gather theirs on the address Janus uses (never leaves the host).
JANUS_ICE_ADDRESS_ENV = "V100_TEST_JANUS_ICE_ADDRESS"


@dataclass(frozen=True, slots=True)
class JanusServer:
    url: str
    secret: str | None
    ice_address: str


@pytest.fixture
def janus_server() -> JanusServer:
    url = os.environ.get(JANUS_URL_ENV)
    if not url:
        pytest.skip(f"{JANUS_URL_ENV} is not set (bash scripts/services/janus.sh start)")
    return JanusServer(
        url,
        os.environ.get(JANUS_SECRET_ENV) or None,
        os.environ.get(JANUS_ICE_ADDRESS_ENV) or "127.0.0.1",
    )
