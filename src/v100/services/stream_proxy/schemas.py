"""stream_proxy's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from v100.kit.http import Listing, refusing_null
from v100.kit.text import Line

__all__ = [
    "BackendIn",
    "BackendOut",
    "PlaybackIn",
    "PlaybackOut",
    "RouteIn",
    "RouteOut",
    "RoutePage",
    "RoutePatch",
    "RoutePlaybackIn",
]

RouteKind = Literal["avatar-session", "live-hls", "media"]
Ttl = Annotated[int, Field(ge=10, le=30 * 24 * 3600, description="seconds the URL lives")]
HealthPath = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^/[!-~]*$")]
Interval = Annotated[float, Field(ge=0.1, le=3600.0)]


class PlaybackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    video_id: Annotated[str, Field(min_length=1, max_length=36)]
    ttl_seconds: Ttl | None = None


class PlaybackOut(BaseModel):
    url: str
    expires_at: datetime


class RoutePlaybackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ttl_seconds: Ttl | None = None


class BackendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[AnyHttpUrl, Field(description="origin base URL, http or https")]
    weight: Annotated[int, Field(ge=1, le=1000)] = 1


class BackendOut(BaseModel):
    url: str
    weight: int
    # up | down | unknown (not checked yet by this replica)
    state: Literal["up", "down", "unknown"]
    checked_at: datetime | None
    last_error: str | None


class RouteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[Line, Field(min_length=1, max_length=200)]
    kind: RouteKind
    backends: Annotated[list[BackendIn], Field(min_length=1, max_length=16)]
    health_path: HealthPath = "/"
    health_interval_seconds: Interval = 5.0


class RoutePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[Line, Field(min_length=1, max_length=200)] | None = None
    backends: Annotated[list[BackendIn], Field(min_length=1, max_length=16)] | None = None
    health_path: HealthPath | None = None
    health_interval_seconds: Interval | None = None
    _kept = refusing_null("name", "backends", "health_path", "health_interval_seconds")


class RouteOut(BaseModel):
    id: str
    name: str
    kind: str
    backends: list[BackendOut]
    health_path: str
    health_interval_seconds: float
    created_at: datetime
    updated_at: datetime


RoutePage = Listing[RouteOut]
