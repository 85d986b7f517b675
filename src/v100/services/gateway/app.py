"""Builds the gateway app from its two rooms: identity (tenants, users, sessions, API keys: its
endpoints and the authenticator) and the edge (authentication of every request, limits, the
response cache, the proxy to the other services, compression, CORS, Server-Timing). Neither
room imports the other; this module hands each the other's objects."""

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import Receive, Scope, Send

from v100.contracts.meeting_tokens import MeetingTokens
from v100.kit.http import Access, Runtime, ServiceSpec, create_service_app
from v100.services.gateway.clients import TrustedProxies
from v100.services.gateway.edge import openapi, status
from v100.services.gateway.edge.authentication import (
    PUBLIC_PATHS,
    PUBLIC_PREFIXES,
    AuthenticationMiddleware,
)
from v100.services.gateway.edge.cache import EdgeCache, ResponseCacheMiddleware
from v100.services.gateway.edge.compression import CompressionMiddleware
from v100.services.gateway.edge.cors import CorsMiddleware
from v100.services.gateway.edge.hit_path import HitPath, HitPathProtocol
from v100.services.gateway.edge.limits import (
    AttemptLimits,
    Limiter,
    RateLimitMiddleware,
    RateLimits,
    tier_source_for,
)
from v100.services.gateway.edge.proxied_path import ProxiedPath
from v100.services.gateway.edge.proxy.middleware import ProxyMiddleware
from v100.services.gateway.edge.proxy.upstreams import Upstreams
from v100.services.gateway.edge.timing import ServerTimingMark, ServerTimingMiddleware
from v100.services.gateway.identity import authn
from v100.services.gateway.identity.api import api_keys_router, auth_router, tenants_router
from v100.services.gateway.identity.auth_throttle import AuthRates, AuthThrottle
from v100.services.gateway.identity.authn import Authenticator
from v100.services.gateway.identity.database import DATABASE
from v100.services.gateway.identity.service import Identity
from v100.services.gateway.settings import GatewaySettings as Settings

__all__ = ["DATABASE", "create_app"]

# The tus endpoints (docs/uploads.md, docs/adr/0057): their OPTIONS needs no credential.
TUS_PATHS = ("/v1/uploads", "/v1/recordings/uploads")
# stream_proxy answers CORS for its signed playback URLs itself (its own allowed origins).
OWN_CORS_PREFIXES = ("/hls/",)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    edge = settings.edge
    identity = Identity.from_settings(settings)
    authenticator = Authenticator(identity)
    upstreams = Upstreams.from_settings(settings)
    proxies = TrustedProxies(edge.trusted_proxies)
    # One limiter for the tier limits and the password routes' limits.
    limiter = Limiter(edge.rate_limits, settings.platform.redis_url)
    tiers = tier_source_for(settings)
    limits = RateLimits(edge.rate_limits, tiers, limiter)
    cache = EdgeCache(upstreams, settings)
    public_paths = PUBLIC_PATHS | authn.PUBLIC_PATHS | openapi.PUBLIC_PATHS
    # Fresh cache hits are answered by the server's protocol itself (hit_path.py), with the
    # very objects the middleware below uses.
    hit_path = (
        HitPath(
            authenticator=authenticator,
            public_paths=public_paths,
            limits=limits,
            cache=cache,
            traffic=upstreams,
            compression_min_bytes=edge.compression_min_bytes if edge.compression_enabled else None,
        )
        if edge.response_cache_hit_path
        else None
    )
    # Plain proxied requests are taken by the server's protocol too (proxied_path.py), with
    # the same objects and a proxy and compression built as the middleware's are.
    proxied_path = (
        ProxiedPath(
            authenticator=authenticator,
            public_paths=public_paths,
            public_prefixes=PUBLIC_PREFIXES,
            limits=limits,
            cache=cache,
            upstreams=upstreams,
            proxy=ProxyMiddleware(
                _not_routed,
                upstreams=upstreams,
                websocket_max_message_bytes=edge.websocket_max_message_bytes,
                proxies=proxies,
            ),
            compression=CompressionMiddleware(
                _not_routed,
                min_bytes=edge.compression_min_bytes,
                gzip_level=edge.compression_gzip_level,
                brotli_quality=edge.compression_brotli_quality,
                traffic=upstreams,
            )
            if edge.compression_enabled
            else None,
            max_body_bytes=edge.proxied_max_body_bytes,
        )
        if edge.proxy_lean_path
        else None
    )
    rates = settings.identity
    throttle = AuthThrottle(
        AttemptLimits(limiter),
        proxies,
        AuthRates(
            rates.login_per_address_per_minute,
            rates.login_per_account_per_minute,
            rates.signup_per_address_per_hour,
            rates.refresh_per_address_per_minute,
        ),
    )

    @contextlib.asynccontextmanager
    async def edge_running(runtime: Runtime) -> AsyncIterator[None]:
        # What the endpoints are given (identity/deps.py, edge/deps.py) and what tests and
        # operators look at.
        for component in (identity, throttle, upstreams, edge, limits, cache):
            runtime.provide(component)
        runtime.provide(openapi.MergedDocument(edge.openapi_cache_seconds))
        # Traffic metrics and active health checks; the limiter's and the cache's Redis,
        # metrics and readiness; then the hit path, which folds all their metrics.
        await upstreams.start(runtime)
        try:
            await limits.start(runtime)
            await cache.start(runtime)
            if hit_path is not None:
                runtime.provide(hit_path)
                await hit_path.start(runtime)
            if proxied_path is not None:
                runtime.provide(proxied_path)
                await proxied_path.start(runtime)
            yield
        finally:
            await authenticator.close()
            await upstreams.close()

    app = create_service_app(
        ServiceSpec(
            settings,
            title="V100 gateway",
            routers=[auth_router, api_keys_router, tenants_router, status.router, openapi.router],
            database=DATABASE,
            access=Access(internal_token=False),  # it authenticates users and keys itself
            # In this order: authentication first, so what follows sees scope["state"]["principal"].
            middleware=[
                # Outermost: Server-Timing on every answer, CORS (preflights carry no credential),
                # then compression of every answer.
                Middleware(ServerTimingMiddleware, traffic=upstreams),
                Middleware(
                    CorsMiddleware,
                    origins=edge.cors_origins,
                    max_age=edge.cors_max_age_seconds,
                    tus_paths=TUS_PATHS,
                    own_cors_prefixes=OWN_CORS_PREFIXES,
                ),
                *(
                    [
                        Middleware(
                            CompressionMiddleware,
                            min_bytes=edge.compression_min_bytes,
                            gzip_level=edge.compression_gzip_level,
                            brotli_quality=edge.compression_brotli_quality,
                            traffic=upstreams,
                        )
                    ]
                    if edge.compression_enabled
                    else []
                ),
                Middleware(
                    AuthenticationMiddleware,
                    authenticator=authenticator,
                    public_paths=public_paths,
                    public_prefixes=PUBLIC_PREFIXES,
                    meeting_tokens=MeetingTokens(settings.platform.resolved_internal_token_secret),
                ),
                Middleware(ServerTimingMark),  # Server-Timing auth;dur= ends here
                # Limits right after authentication, so they see the principal.
                Middleware(RateLimitMiddleware, limits=limits),
                # The response cache right before the proxy: it answers hits without it.
                Middleware(ResponseCacheMiddleware, cache=cache),
                Middleware(
                    ProxyMiddleware,
                    upstreams=upstreams,
                    websocket_max_message_bytes=edge.websocket_max_message_bytes,
                    proxies=proxies,
                ),
            ],
            # Proxied bodies are limited by the service that reads them.
            body_limits=dict.fromkeys(upstreams.prefixes, edge.proxied_max_body_bytes),
            components=[edge_running],
            own_docs=True,  # openapi.router serves the merged document and /docs
        )
    )
    if hit_path is not None or proxied_path is not None:
        # The server's protocol (kit.http.server_config): it answers fresh hits and takes
        # plain proxied requests itself.
        app.state.http_protocol = HitPathProtocol.serving(hit_path, proxied_path)
    return app


async def _not_routed(scope: Scope, receive: Receive, send: Send) -> None:
    # The proxied path's proxy and compression are only given requests they handle.
    raise AssertionError(f"not a proxied request: {scope.get('path')}")
