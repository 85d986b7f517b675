"""What the CRM fakes share: an OAuth 2 authorization server's memory (codes for one redirect
URI, access tokens that expire on the fake's own clock, refresh tokens), the user's approval
played by the test, and a switch that makes the next calls answer "slow down"."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from starlette.requests import Request

__all__ = ["TokenAuthority", "form_of"]


async def form_of(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (as OAuth token requests are sent)."""
    return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))


@dataclass
class TokenAuthority:
    client_id: str
    client_secret: str
    # Seconds an access token lives (on this fake's clock).
    access_lifetime: float = 1800.0
    # Added to the wall clock: a test moves the vendor's time (tokens expire, records age).
    shift: float = 0.0
    codes: dict[str, str] = field(default_factory=dict)
    access_tokens: dict[str, float] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    # Every grant the token endpoint honoured, in order (authorization_code, refresh_token).
    grants: list[str] = field(default_factory=list)
    rate_limited: int = 0
    # Calls let through before the rate limit starts.
    rate_limit_skip: int = 0

    def now(self) -> float:
        return time.time() + self.shift

    def now_datetime(self) -> datetime:
        moment = datetime.now(UTC) + timedelta(seconds=self.shift)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def approve(self, authorize_url: str) -> str:
        """The user says yes on the vendor's page: the URL the browser is sent back to, with
        a code for the redirect URI and the state the authorize URL carried."""
        query = parse_qs(urlsplit(authorize_url).query)
        assert query["client_id"] == [self.client_id], query
        assert query["response_type"] == ["code"], query
        redirect_uri, state = query["redirect_uri"][0], query["state"][0]
        code = secrets.token_urlsafe(16)
        self.codes[code] = redirect_uri
        return f"{redirect_uri}?{urlencode({'code': code, 'state': state})}"

    def deny(self, authorize_url: str) -> str:
        query = parse_qs(urlsplit(authorize_url).query)
        redirect_uri, state = query["redirect_uri"][0], query["state"][0]
        return f"{redirect_uri}?{urlencode({'error': 'access_denied', 'state': state})}"

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired (the vendor answers 401)."""
        for token in self.access_tokens:
            self.access_tokens[token] = 0.0

    def revoke_refresh_tokens(self) -> None:
        self.refresh_tokens.clear()

    def rate_limit_next(self, count: int = 1, *, skip: int = 0) -> None:
        """After ``skip`` more calls, the next ``count`` API calls answer the vendor's
        rate-limit error."""
        self.rate_limited = count
        self.rate_limit_skip = skip

    def take_rate_limit(self) -> bool:
        if self.rate_limited > 0 and self.rate_limit_skip > 0:
            self.rate_limit_skip -= 1
            return False
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return True
        return False

    def client_ok(self, form: dict[str, str]) -> bool:
        return form.get("client_id") == self.client_id and secrets.compare_digest(
            form.get("client_secret", ""), self.client_secret
        )

    def redeem(self, form: dict[str, str]) -> tuple[str, str] | str:
        """A token request: (access, refresh) issued, or what was wrong with it."""
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = form.get("code", "")
            if self.codes.pop(code, None) != form.get("redirect_uri") or not code:
                return "bad_code"
        elif grant == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return "bad_refresh"
        else:
            return "unsupported_grant_type"
        access = secrets.token_urlsafe(24)
        self.access_tokens[access] = self.now() + self.access_lifetime
        refresh = form["refresh_token"] if grant == "refresh_token" else secrets.token_urlsafe(24)
        self.refresh_tokens.add(refresh)
        self.grants.append(grant)
        return access, refresh

    def check(self, authorization: str) -> str | None:
        """Why a bearer token is refused (``missing``, ``expired``), or None when it is good."""
        token = authorization.removeprefix("Bearer ").strip()
        expires = self.access_tokens.get(token)
        if not token or expires is None:
            return "missing"
        if expires <= self.now():
            return "expired"
        return None
