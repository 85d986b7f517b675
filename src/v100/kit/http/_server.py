"""How every service is served: one uvicorn configuration for ``v100 up``, ``v100 serve`` and the
test servers, so they all run the same protocol (``GuardedHttpProtocol``, with the app's
``state.http_limits``). An app may name a subclass of it at ``app.state.http_protocol``."""

from __future__ import annotations

from typing import Any

import uvicorn

from v100.kit.http._protocol import GuardedHttpProtocol, HttpLimits

__all__ = ["server_config"]


def server_config(app: Any, **options: Any) -> uvicorn.Config:
    """``uvicorn.Config`` for ``app`` with the platform's defaults; ``options`` override them."""
    state = getattr(app, "state", None)
    protocol = getattr(state, "http_protocol", None) or GuardedHttpProtocol
    assert issubclass(protocol, GuardedHttpProtocol), protocol
    limits: HttpLimits = getattr(state, "http_limits", None) or HttpLimits()
    defaults: dict[str, Any] = {
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "ws": "websockets-sansio",
        # permessage-deflate keeps two zlib streams per socket (about 50 KB); a service holding
        # many sockets of small messages turns it off (``app.state.websocket_compression``).
        "ws_per_message_deflate": getattr(state, "websocket_compression", True),
        "http": protocol,
        "timeout_keep_alive": limits.keep_alive,
    }
    return uvicorn.Config(app, **{**defaults, **options})
