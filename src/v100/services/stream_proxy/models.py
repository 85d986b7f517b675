"""stream_proxy's tables: media routes (a tenant's named set of backends, health-checked and
proxied under signed URLs) and the stored answers of idempotent POSTs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from v100.kit.db import TYPE_ANNOTATION_MAP, TenantOwned, Timestamped, service_metadata
from v100.kit.idempotency import add_idempotency_table


class Base(DeclarativeBase):
    metadata = service_metadata("stream_proxy")
    type_annotation_map = TYPE_ANNOTATION_MAP


add_idempotency_table(Base.metadata)

ROUTE_KINDS = ("avatar-session", "live-hls", "media")


class MediaRoute(Base, TenantOwned, Timestamped):
    __tablename__ = "media_routes"

    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    # [{"url": "https://origin-a.example/live", "weight": 1}, ...]: origins, tried by weight.
    backends: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # GET <backend url><health_path> must answer 2xx for the backend to be up.
    health_path: Mapped[str] = mapped_column(String(200))
    health_interval_seconds: Mapped[float] = mapped_column(Float)
