"""What the edge's own endpoints (``/v1/status``, the merged OpenAPI) are given, typed: the edge
settings and the upstreams, provided at start-up by ``gateway/app.py``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.http import Provided
from v100.services.gateway.edge.proxy.upstreams import Upstreams
from v100.services.gateway.edge.settings import EdgeSettings

__all__ = ["EdgeSettingsDep", "UpstreamsDep"]

EdgeSettingsDep = Annotated[EdgeSettings, Depends(Provided(EdgeSettings))]
UpstreamsDep = Annotated[Upstreams, Depends(Provided(Upstreams))]
