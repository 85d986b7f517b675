"""The headers of a proxied exchange: what a service receives from the caller (end-to-end headers
only, the internal token instead of the caller's credentials, ``X-Forwarded-*`` and ``Via``) and
what the caller receives of the service's answer. Hop-by-hop headers stop here both ways
(RFC 9110 section 7.6.1)."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Scope

__all__ = [
    "HOP_BY_HOP",
    "forwarded_headers",
    "forwarded_raw",
    "header_block",
    "response_headers",
]

# RFC 9110 7.6.1 (plus Trailer, and the Proxy-* pair a proxy consumes): meaningful for one
# connection only, never forwarded in either direction.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"transfer-encoding",
        b"upgrade",
        b"trailer",
        b"proxy-authorization",
        b"proxy-authenticate",
    }
)
# Set by the gateway itself on the way in. Expect is answered by our own server; the client's
# credentials are replaced by the internal token.
_REPLACED_IN = frozenset(
    {
        b"host",
        b"authorization",
        b"x-api-key",
        b"x-request-id",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        # Never believed from a caller: a service must not build URLs from it (the platform's
        # public URL is configured: V100_PUBLIC_URL).
        b"x-forwarded-prefix",
        b"via",
        b"expect",
    }
)
# Set by the gateway's own server and middleware on the way out (duplicates otherwise).
_REPLACED_OUT = frozenset({b"date", b"server", b"x-request-id", b"via"})
_VIA_NAME = "v100-gateway"
_NONE: frozenset[bytes] = frozenset()


def _connection_named(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """The extra hop-by-hop headers a message names in its Connection header."""
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(token.strip().lower() for token in value.split(b","))
    return frozenset(named)


def _via(scope: Scope, existing: str | None) -> str:
    own = f"{scope.get('http_version', '1.1')} {_VIA_NAME}"
    return f"{existing}, {own}" if existing else own


_OWN_VIA: dict[str, bytes] = {}


def _via_value(scope: Scope, existing: str | None) -> bytes:
    """``_via`` as a header value; ours alone is made once per HTTP version."""
    if existing:
        return _via(scope, existing).encode("latin-1")
    version = scope.get("http_version", "1.1")
    value = _OWN_VIA.get(version)
    if value is None:
        value = _OWN_VIA[version] = _via(scope, None).encode("latin-1")
    return value


def forwarded_raw(
    scope: Scope,
    authorization: str | None,
    *,
    identity: bool = False,
    trusted_peer: bool = False,
) -> list[tuple[bytes, bytes]]:
    """The request headers a service receives: the caller's end-to-end headers, then the
    internal token, request id, ``X-Forwarded-*`` and ``Via``. With ``identity`` the service
    is asked for an unencoded answer (the gateway compresses it for the caller). The caller's
    ``X-Forwarded-For`` is kept only from a ``trusted_peer`` (one of the operator's proxies)."""
    raw: list[tuple[bytes, bytes]] = scope["headers"]
    named = _connection_named(raw) if any(n == b"connection" for n, _ in raw) else _NONE
    out: list[tuple[bytes, bytes]] = []
    forwarded_for: bytes | None = None
    via: str | None = None
    host: bytes | None = None
    for name, value in raw:
        if name in HOP_BY_HOP or name in named or (identity and name == b"accept-encoding"):
            continue
        if name in _REPLACED_IN:
            if name == b"x-forwarded-for" and trusted_peer:
                forwarded_for = forwarded_for + b", " + value if forwarded_for else value
            elif name == b"via":
                via = value.decode("latin-1")
            elif name == b"host":
                host = value
            continue
        out.append((name, value))
    if identity:
        out.append((b"accept-encoding", b"identity"))
    if authorization is not None:
        out.append((b"authorization", authorization.encode("latin-1")))
    state = scope.get("state") or {}
    request_id = state.get("request_id")
    if request_id:
        out.append((b"x-request-id", request_id.encode("latin-1")))
    client = scope.get("client")
    if client:
        address = client[0].encode("latin-1")
        forwarded_for = forwarded_for + b", " + address if forwarded_for else address
    if forwarded_for:
        out.append((b"x-forwarded-for", forwarded_for))
    secure = scope.get("scheme") in ("https", "wss")
    out.append((b"x-forwarded-proto", b"https" if secure else b"http"))
    if host:
        out.append((b"x-forwarded-host", host))
    out.append((b"via", _via_value(scope, via)))
    return out


def forwarded_headers(
    scope: Scope, authorization: str | None, *, identity: bool = False, trusted_peer: bool = False
) -> list[tuple[str, str]]:
    """``forwarded_raw`` as text (for the WebSocket client)."""
    return [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in forwarded_raw(
            scope, authorization, identity=identity, trusted_peer=trusted_peer
        )
    ]


def header_block(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """HTTP/1.1 header lines. The values come from our own server's parser (no CR or LF can be
    in them) or from the gateway itself."""
    return b"".join([name + b": " + value + b"\r\n" for name, value in headers])


def response_headers(scope: Scope, raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The upstream's answer headers as the caller receives them."""
    out: list[tuple[bytes, bytes]] = []
    via: str | None = None
    named: set[bytes] | None = None  # what the answer's Connection headers name
    for name, value in raw:
        lower = name.lower()
        if lower in HOP_BY_HOP:
            if lower == b"connection":
                tokens = {token.strip().lower() for token in value.split(b",")}
                named = tokens if named is None else named | tokens
            continue
        if lower in _REPLACED_OUT:
            if lower == b"via":
                via = value.decode("latin-1")
            continue
        out.append((lower, value))
    if named:
        # Hop-by-hop too, by the upstream's word: dropped, wherever they came.
        out = [header for header in out if header[0] not in named]
        if b"via" in named:
            via = None
    out.append((b"via", _via_value(scope, via)))
    return out
