"""The edge room's settings: routing, the proxy, rate limits, the response cache, breakers,
health checks, retries, compression and CORS. Read from the gateway's flat variables
(``V100_GATEWAY_UPSTREAMS``, ``V100_GATEWAY_RATE_LIMITS``, ``V100_GATEWAY_BREAKER_...``) and
composed into ``GatewaySettings.edge``. The edge's parts take an ``EdgeConfig``: these settings
with the platform's beside them, which is what ``GatewaySettings`` is."""

from typing import Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from v100.kit.settings import PlatformSettings
from v100.services.gateway.edge.limits import RateLimitSettings

__all__ = ["EdgeConfig", "EdgeSettings"]


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="V100_GATEWAY_", extra="ignore")

    # --- routing: the other services behind the gateway ------------------------------------
    # Base URL per service name, over the topology's http://127.0.0.1:<port>, e.g.
    # V100_GATEWAY_UPSTREAMS='{"billing": "http://10.0.0.5:8085"}'.
    upstreams: dict[str, str] = Field(default_factory=dict)
    upstream_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # Longest silence while waiting for an upstream's answer or its next bytes (not a cap on
    # the whole answer: downloads and event streams go on while bytes keep coming).
    upstream_read_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    upstream_max_connections: int = Field(default=256, ge=1, le=10_000)
    # One tenant's most requests in flight to one service, as a share of the above: past it
    # that tenant gets 429 (Retry-After) and the others keep the rest of the budget.
    upstream_tenant_share: float = Field(default=0.25, gt=0, le=1)
    # Request bodies up to this size are read whole before a connection to the service is
    # taken, so a slow sender holds no upstream capacity; larger ones stream through.
    proxy_buffer_body_bytes: int = Field(default=1024 * 1024, ge=0)
    # Longest silence while a request body comes in: past it 408 and the connection closes.
    proxy_body_idle_seconds: float = Field(default=15.0, gt=0, le=600)
    # Below uvicorn's 5 s keep-alive, so an idle connection is dropped here before the
    # upstream closes it under a new request.
    upstream_keepalive_seconds: float = Field(default=4.0, ge=0, le=300)
    # Proxied bodies are limited by the service that reads them (uploads are large), not by the
    # platform's JSON-sized default.
    proxied_max_body_bytes: int = Field(default=5 * 1024**3, ge=1024)
    websocket_max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    openapi_cache_seconds: float = Field(default=10.0, ge=0, le=3600)
    status_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # The operator's proxies in front of the gateway (IPs or CIDRs, e.g. ["10.0.0.0/8"]): only
    # from them is X-Forwarded-For read, for the client's address (clients.py). Empty: the
    # connection's peer is the client.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Browser origins allowed to call the API (cors.py), e.g.
    # V100_GATEWAY_CORS_ORIGINS='["https://app.example.com"]'. Empty: no cross-origin calls.
    cors_origins: list[str] = Field(default_factory=list)
    cors_max_age_seconds: int = Field(default=600, ge=0, le=86_400)

    # --- traffic: rate limits and concurrency caps by billing tier (limits/_tiers.py) -------
    # JSON, e.g. V100_GATEWAY_RATE_LIMITS='{"tiers": {...}, "route_groups": {...}}'; a field
    # given replaces its default whole. Documented in docs/gateway-traffic.md.
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)

    # --- traffic: the response cache (response_cache/; docs/gateway-traffic.md) ------------
    response_cache_enabled: bool = True
    # Fresh hits answered by the server protocol itself, before the middleware (hit_path.py).
    response_cache_hit_path: bool = True
    # Plain proxied requests taken by the server protocol itself (proxied_path.py).
    proxy_lean_path: bool = True
    response_cache_l1_max_bytes: int = Field(default=64 * 1024**2, ge=64 * 1024)
    # Larger answers are never stored: they stream through untouched.
    response_cache_max_body_bytes: int = Field(default=1024**2, ge=0, le=64 * 1024**2)
    # Caps the upstream's max-age / s-maxage.
    response_cache_max_ttl_seconds: float = Field(default=3600.0, gt=0, le=7 * 86_400)
    # Fill lock across replicas; a leader slower than this lets the waiters go upstream.
    response_cache_lock_seconds: float = Field(default=10.0, gt=0, le=300)
    # Longest a coalesced request waits for another's fetch before fetching itself.
    response_cache_wait_seconds: float = Field(default=10.0, gt=0, le=300)
    # A URL found not cacheable is fetched without coalescing this long (hit-for-miss).
    response_cache_hit_for_miss_seconds: float = Field(default=30.0, ge=0, le=3600)
    # The shared tier; unset: the platform's Redis (V100_REDIS_URL), none when embedded.
    response_cache_redis_url: str | None = None
    response_cache_redis_prefix: str = "v100:gateway:rc:"
    # Redis answers within this or the tier is skipped until the probe finds it back.
    response_cache_redis_timeout_seconds: float = Field(default=0.5, gt=0, le=10)
    response_cache_redis_probe_seconds: float = Field(default=1.0, gt=0, le=60)

    # --- traffic: breakers, health checks, retries, compression (docs/gateway-traffic.md) --
    # Per upstream and per gateway process. Trips on a failure ratio over a sliding window
    # (once it holds enough requests) or on failures in a row; then open, then half-open.
    breaker_enabled: bool = True
    breaker_failure_ratio: float = Field(default=0.5, gt=0, le=1)
    breaker_window_seconds: float = Field(default=10.0, ge=1, le=600)
    breaker_minimum_requests: int = Field(default=20, ge=1)
    breaker_consecutive_failures: int = Field(default=5, ge=1)
    # Doubled at each reopening from half-open, up to the max.
    breaker_open_seconds: float = Field(default=5.0, gt=0, le=3600)
    breaker_max_open_seconds: float = Field(default=60.0, gt=0, le=3600)
    breaker_half_open_probes: int = Field(default=3, ge=1, le=100)
    health_check_enabled: bool = True
    health_check_interval_seconds: float = Field(default=5.0, gt=0, le=300)
    health_check_timeout_seconds: float = Field(default=1.0, gt=0, le=60)
    health_check_unhealthy_threshold: int = Field(default=2, ge=1, le=100)
    health_check_healthy_threshold: int = Field(default=1, ge=1, le=100)
    # Retries of idempotent requests after a connect error or a 502/503, before the answer
    # started; 0 turns them off.
    upstream_retries: int = Field(default=2, ge=0, le=5)
    upstream_retry_backoff_seconds: float = Field(default=0.025, ge=0, le=5)
    upstream_retry_budget_ratio: float = Field(default=0.2, ge=0, le=1)
    upstream_retry_max_body_bytes: int = Field(default=64 * 1024, ge=0, le=16 * 1024**2)
    compression_enabled: bool = True
    # Smaller answers are sent as they are (compressing them saves less than it costs).
    compression_min_bytes: int = Field(default=1024, ge=0)
    compression_gzip_level: int = Field(default=6, ge=1, le=9)
    compression_brotli_quality: int = Field(default=4, ge=0, le=11)


class EdgeConfig(Protocol):
    """What the edge's parts read: their own section and the platform's settings (the
    gateway's settings are one; the edge never imports them, nor anything of identity)."""

    @property
    def edge(self) -> EdgeSettings: ...

    @property
    def platform(self) -> PlatformSettings: ...
