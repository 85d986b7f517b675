"""Builds the gateway app: its own identity endpoints, then authentication and the proxy to the
other services for every public prefix."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from starlette.middleware import Middleware

from v100.kit.http import Access, DatabaseSpec, Runtime, ServiceSpec, create_service_app
from v100.services.gateway import openapi, status
from v100.services.gateway.api import api_keys_router, auth_router, tenants_router
from v100.services.gateway.auth_throttle import AuthRates, AuthThrottle
from v100.services.gateway.authn import PUBLIC_PATHS, AuthenticationMiddleware, Authenticator
from v100.services.gateway.clients import TrustedProxies
from v100.services.gateway.compression import CompressionMiddleware
from v100.services.gateway.cors import CorsMiddleware
from v100.services.gateway.hit_path import HitPath, HitPathProtocol
from v100.services.gateway.limits import Limiter, RateLimitMiddleware
from v100.services.gateway.models import Base
from v100.services.gateway.proxy import ProxyMiddleware
from v100.services.gateway.response_cache import ResponseCacheMiddleware
from v100.services.gateway.service import Identity
from v100.services.gateway.settings import GatewaySettings as Settings
from v100.services.gateway.timing import ServerTimingMark, ServerTimingMiddleware
from v100.services.gateway.upstreams import Upstreams

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


# video_processing's tus endpoint (docs/uploads.md): its OPTIONS needs no credential.
TUS_PATHS = ("/v1/uploads",)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    identity = Identity.from_settings(settings)
    authenticator = Authenticator(identity)
    upstreams = Upstreams.from_settings(settings)
    proxies = TrustedProxies(settings.trusted_proxies)
    # One limiter for the tier limits and the password routes' limits.
    limiter = Limiter(settings.rate_limits, settings.platform.redis_url)
    throttle = AuthThrottle(
        limiter,
        proxies,
        AuthRates(
            settings.login_per_address_per_minute,
            settings.login_per_account_per_minute,
            settings.signup_per_address_per_hour,
            settings.refresh_per_address_per_minute,
        ),
    )

    @contextlib.asynccontextmanager
    async def traffic(runtime: Runtime) -> AsyncIterator[None]:
        await upstreams.start(runtime)  # traffic metrics, active health checks
        try:
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
            access=Access(internal_token=False),  # the gateway authenticates users and keys itself
            # In this order: authentication first, so what follows sees scope["state"]["principal"].
            middleware=[
                # Outermost: Server-Timing on every answer, CORS (preflights carry no credential),
                # then compression of every answer.
                Middleware(ServerTimingMiddleware, traffic=upstreams),
                Middleware(
                    CorsMiddleware,
                    origins=settings.cors_origins,
                    max_age=settings.cors_max_age_seconds,
                    tus_paths=TUS_PATHS,
                ),
                *(
                    [
                        Middleware(
                            CompressionMiddleware,
                            min_bytes=settings.compression_min_bytes,
                            gzip_level=settings.compression_gzip_level,
                            brotli_quality=settings.compression_brotli_quality,
                            traffic=upstreams,
                        )
                    ]
                    if settings.compression_enabled
                    else []
                ),
                Middleware(
                    AuthenticationMiddleware,
                    authenticator=authenticator,
                    public_paths=PUBLIC_PATHS | openapi.PUBLIC_PATHS,
                ),
                Middleware(ServerTimingMark),  # Server-Timing auth;dur= ends here
                # Limits right after authentication, so they see the principal.
                Middleware(RateLimitMiddleware, settings=settings, limiter=limiter),
                # The response cache right before the proxy: it answers hits without it.
                Middleware(ResponseCacheMiddleware, upstreams=upstreams, settings=settings),
                Middleware(
                    ProxyMiddleware,
                    upstreams=upstreams,
                    websocket_max_message_bytes=settings.websocket_max_message_bytes,
                    proxies=proxies,
                ),
            ],
            # Proxied bodies are limited by the service that reads them.
            body_limits=dict.fromkeys(upstreams.prefixes, settings.proxied_max_body_bytes),
            components=[traffic],
            own_docs=True,  # openapi.router serves the merged document and /docs
        )
    )
    app.state.identity = identity
    app.state.auth_throttle = throttle
    app.state.upstreams = upstreams
    # Fresh cache hits are answered by the server's protocol itself (hit_path.py).
    if settings.response_cache_hit_path:
        app.state.hit_path = HitPath(app)
        app.state.http_protocol = HitPathProtocol
    return app
