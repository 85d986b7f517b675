"""The OAuth 2 authorization-code flow with a vendor, through authlib's httpx client: the
authorize URL (with our ``state``), the code exchanged for tokens, and tokens refreshed. The
vendor's refusal (``invalid_grant``...) is ``VendorGrantRefused``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from authlib.deprecate import AuthlibDeprecationWarning

from v100.services.integration.crm.vendors import TokenSet, VendorError, VendorGrantRefused

# authlib 1.9 warns that it falls back to httpx (its httpx2 is not installed here); the
# fallback is what we use, so the warning says nothing to our operators. (authlib.deprecate,
# imported above, sets its own "always" filter on import; this one goes in front of it.)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client

__all__ = ["OAuthApp"]


@dataclass(frozen=True)
class OAuthApp:
    client_id: str
    client_secret: str
    authorize_endpoint: str
    token_endpoint: str
    scopes: Sequence[str] = ()
    timeout: float = 20.0
    # When the token answer has no ``expires_in`` (Salesforce), the lifetime to assume.
    default_lifetime_seconds: float | None = None

    def authorize_url(self, state: str, redirect_uri: str, **extra: str) -> str:
        client = AsyncOAuth2Client(
            self.client_id, scope=" ".join(self.scopes) or None, redirect_uri=redirect_uri
        )
        url, _ = client.create_authorization_url(self.authorize_endpoint, state=state, **extra)
        return str(url)

    def _client(self, redirect_uri: str | None = None) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            self.client_id,
            self.client_secret,
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
            redirect_uri=redirect_uri,
            timeout=self.timeout,
        )

    async def exchange(self, code: str, redirect_uri: str, now: datetime) -> dict[str, Any]:
        async with self._client(redirect_uri) as client:
            return await self._call(
                client.fetch_token(self.token_endpoint, code=code, grant_type="authorization_code")
            )

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        async with self._client() as client:
            answer = await self._call(
                client.refresh_token(self.token_endpoint, refresh_token=refresh_token)
            )
        # A vendor that keeps the refresh token (Salesforce) does not send it again.
        answer.setdefault("refresh_token", refresh_token)
        return answer

    @staticmethod
    async def _call(call: Any) -> dict[str, Any]:
        try:
            token = await call
        except OAuthError as exc:
            raise VendorGrantRefused(400, exc.description or str(exc), exc.error or "") from exc
        except httpx.HTTPStatusError as exc:
            raise VendorError(exc.response.status_code, "the token endpoint failed") from exc
        except httpx.HTTPError as exc:
            raise VendorError(0, f"the token endpoint did not answer ({exc!r})") from exc
        if "access_token" not in token:
            # HubSpot answers a bad code or refresh token as {"status": "BAD_...", "message"}.
            status = str(token.get("status") or "")
            message = str(token.get("message") or "the token endpoint sent no access token")
            if status.startswith("BAD_"):
                raise VendorGrantRefused(400, message, status)
            raise VendorError(502, message, status)
        return dict(token)

    def token_set(self, answer: dict[str, Any], now: datetime, **extra: Any) -> TokenSet:
        lifetime = answer.get("expires_in") or self.default_lifetime_seconds
        expires_at = None if lifetime is None else now + timedelta(seconds=float(lifetime))
        return TokenSet(
            access_token=str(answer["access_token"]),
            refresh_token=answer.get("refresh_token"),
            expires_at=expires_at,
            **extra,
        )
