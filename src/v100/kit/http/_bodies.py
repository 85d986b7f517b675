"""Request-body rules shared by every service's schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator

__all__ = ["refusing_null"]


def refusing_null(*fields: str) -> Any:
    """A PATCH body's check: these fields may be left out (kept as they are), not set to null
    (422, never a 500 from a NOT NULL column)."""

    def check(cls: type[BaseModel], data: Any) -> Any:
        if isinstance(data, dict):
            nulls = [name for name in fields if name in data and data[name] is None]
            if nulls:
                raise ValueError(f"{', '.join(nulls)} cannot be null; leave a field out to keep it")
        return data

    return model_validator(mode="before")(check)
