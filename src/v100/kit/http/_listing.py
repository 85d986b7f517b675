"""The one envelope every list answer of the platform uses (``docs/api.md``, "Lists"), checked
across every service's OpenAPI by ``tests/services/test_api_conventions.py``."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

__all__ = ["Listing"]

ItemT = TypeVar("ItemT")


class Listing(BaseModel, Generic[ItemT]):
    """One page of a list: ``items``, and the ``next_cursor`` to pass as ``?cursor=`` for the
    next page (None on the last)."""

    items: list[ItemT]
    next_cursor: str | None
