"""How every service is served: one uvicorn configuration for ``v100 up``, ``v100 serve`` and the
test servers, so they all run the same protocol. An app may name its own HTTP protocol class
(a subclass of uvicorn's httptools protocol) at ``app.state.http_protocol``."""

from __future__ import annotations

from typing import Any

import uvicorn

__all__ = ["server_config"]


def server_config(app: Any, **options: Any) -> uvicorn.Config:
    """``uvicorn.Config`` for ``app`` with the platform's defaults; ``options`` override them."""
    protocol = getattr(getattr(app, "state", None), "http_protocol", None)
    defaults: dict[str, Any] = {
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "ws": "websockets-sansio",
        "http": protocol if protocol is not None else "httptools",
    }
    return uvicorn.Config(app, **{**defaults, **options})
