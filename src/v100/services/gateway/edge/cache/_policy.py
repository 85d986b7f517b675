"""HTTP caching rules of a shared cache (RFC 9111) as the gateway applies them: what a request
asks of the cache, whether an upstream answer may be stored and for how long, Vary, entity-tag
comparison and the canonical form of a query string."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, quote

__all__ = [
    "CACHEABLE_STATUSES",
    "Decision",
    "RequestView",
    "decide",
    "etag_matches",
    "normalized_query",
    "parse_directives",
    "vary_names",
]

# Statuses RFC 9110 section 15.1 calls heuristically cacheable, less those whose meaning depends
# on the request (405, 414, 501) or that nobody would want replayed (308 follows 301 rarely).
CACHEABLE_STATUSES = frozenset({200, 203, 204, 300, 301, 404, 410})


def parse_directives(values: Iterable[bytes]) -> dict[str, str | None]:
    """``Cache-Control`` directives, lower-cased, values unquoted; the first occurrence of a
    directive wins (RFC 9111 section 4.2.1 lets a cache treat duplicates as invalid; ignoring
    later ones errs the same way for freshness, which is then taken from the first)."""
    directives: dict[str, str | None] = {}
    for raw in values:
        for part in raw.decode("latin-1").split(","):
            name, sep, value = part.strip().partition("=")
            name = name.strip().lower()
            if not name or name in directives:
                continue
            directives[name] = value.strip().strip('"') if sep else None
    return directives


def _seconds(value: str | None) -> int | None:
    if value is None or not value.isdigit():
        return None  # malformed: treated as absent, so the answer is not stored
    return int(value)


def vary_names(values: Iterable[bytes]) -> tuple[str, ...] | None:
    """The request headers an answer varies on, lower-cased and sorted; None for ``Vary: *``
    (it varies on something no cache can see, so it is never stored)."""
    names: set[str] = set()
    for raw in values:
        for part in raw.decode("latin-1").split(","):
            name = part.strip().lower()
            if name == "*":
                return None
            if name:
                names.add(name)
    return tuple(sorted(names))


_normalized: dict[bytes, str] = {}
_MAX_NORMALIZED = 10_000


def normalized_query(raw: bytes) -> str:
    """The query with parameters decoded and re-encoded one way and stably sorted by name, so
    ``?b=2&a=1`` and ``?a=%31&b=2`` share an entry, while repeated names keep their order (an
    API may read ``?id=2&id=1`` in that order). Remembered: hot URLs repeat their queries."""
    if not raw:
        return ""
    known = _normalized.get(raw)
    if known is not None:
        return known
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    pairs.sort(key=lambda pair: pair[0])
    normal = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    if len(raw) <= 512:
        if len(_normalized) >= _MAX_NORMALIZED:
            _normalized.clear()  # rare; recomputing is cheap
        _normalized[raw] = normal
    return normal


def _tags(value: bytes) -> list[bytes]:
    """Entity tags of an ``If-None-Match`` list; commas inside quotes do not split."""
    tags: list[bytes] = []
    current = bytearray()
    quoted = False
    for byte in value:
        if byte == 0x22:  # '"'
            quoted = not quoted
        if byte == 0x2C and not quoted:  # ','
            tags.append(bytes(current).strip())
            current.clear()
            continue
        current.append(byte)
    tags.append(bytes(current).strip())
    return [tag for tag in tags if tag]


def _opaque(tag: bytes) -> bytes:
    return tag[2:] if tag[:2] in (b"W/", b"w/") else tag


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """Weak comparison (RFC 9110 section 8.8.3.2), as ``If-None-Match`` requires: ``W/"x"``
    matches ``"x"``; ``*`` matches any current representation."""
    wanted = _opaque(etag.strip())
    return any(tag == b"*" or _opaque(tag) == wanted for tag in _tags(if_none_match))


@dataclass(slots=True)
class RequestView:
    """What the cache reads from a request's headers, in one pass over them."""

    cache_control: list[bytes]
    pragma_no_cache: bool = False
    if_none_match: bytes | None = None
    has_range: bool = False
    has_body: bool = False
    has_credentials: bool = False

    @classmethod
    def of(cls, headers: Sequence[tuple[bytes, bytes]]) -> RequestView:
        view = cls(cache_control=[])
        for name, value in headers:
            if name == b"cache-control":
                view.cache_control.append(value)
            elif name == b"pragma":
                view.pragma_no_cache = b"no-cache" in value.lower()
            elif name == b"if-none-match":
                view.if_none_match = value
            elif name == b"range":
                view.has_range = True
            elif name == b"authorization" or name == b"x-api-key":
                view.has_credentials = True
            elif name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                view.has_body = True
        return view

    def bypass_reason(self) -> str | None:
        """Why the cache must stay out of this request entirely, if it must."""
        if self.has_range:
            return "range"  # a part of a representation; stored entries are whole ones
        if self.has_body:
            return "body"
        if self.cache_control:
            directives = parse_directives(self.cache_control)
            if "no-store" in directives or "no-cache" in directives:
                return "request-no-cache"
        elif self.pragma_no_cache:  # HTTP/1.0 clients; Cache-Control wins when both are sent
            return "request-no-cache"
        return None


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether an answer may be stored; when it may, for how long it stays fresh."""

    storable: bool
    reason: str = ""
    lifetime: float = 0.0  # seconds of freshness from when the upstream made it
    initial_age: float = 0.0  # what the upstream's ``Age`` says had already passed
    vary: tuple[str, ...] = ()


def _not(reason: str) -> Decision:
    return Decision(False, reason)


def decide(
    status: int,
    headers: Sequence[tuple[bytes, bytes]],
    *,
    authenticated: bool,
    max_ttl: float,
    max_body: int,
) -> Decision:
    """Apply RFC 9111 section 3 for a shared cache that stores only explicitly fresh answers.
    Every request through the gateway carries credentials, so section 3.5 applies: an answer to
    an authenticated request is shared (within its tenant and credential scope) only when the
    upstream says so with ``public``, ``s-maxage`` or ``must-revalidate``; a ``max-age`` alone
    stays with the one caller, as a service that forgot ``private`` would otherwise leak one
    user's answer to another."""
    if status not in CACHEABLE_STATUSES:
        return _not("status")
    cache_control: list[bytes] = []
    vary: list[bytes] = []
    expires: bytes | None = None
    age: bytes | None = None
    for name, value in headers:
        if name == b"cache-control":
            cache_control.append(value)
        elif name == b"vary":
            vary.append(value)
        elif name == b"set-cookie":
            return _not("set-cookie")  # a cookie is one client's; never replayed to another
        elif name == b"expires":
            expires = value
        elif name == b"age":
            age = value
        elif name == b"content-length":
            if not value.isdigit() or int(value) > max_body:
                return _not("too-large")
        elif name == b"content-range":
            return _not("partial")
    directives = parse_directives(cache_control)
    for refused in ("no-store", "private", "no-cache"):
        # no-cache would need revalidation on every use; storing it would buy nothing here.
        if refused in directives:
            return _not(refused)
    shared = "public" in directives or "s-maxage" in directives or "must-revalidate" in directives
    if authenticated and not shared:
        return _not("not-shared")
    lifetime: float | None
    if "s-maxage" in directives:
        lifetime = _seconds(directives["s-maxage"])  # ours is a shared cache: it wins
    elif "max-age" in directives:
        lifetime = _seconds(directives["max-age"])
    else:
        lifetime = _expires_in(expires)
    if lifetime is None or lifetime <= 0:
        return _not("not-fresh")
    names = vary_names(vary)
    if names is None:
        return _not("vary-star")
    initial_age = float(_seconds(age.decode("latin-1")) or 0) if age else 0.0
    lifetime = min(float(lifetime), max_ttl)
    if lifetime <= initial_age:
        return _not("not-fresh")
    return Decision(True, lifetime=lifetime, initial_age=initial_age, vary=names)


def _expires_in(expires: bytes | None) -> float | None:
    if expires is None:
        return None
    try:
        when = parsedate_to_datetime(expires.decode("latin-1"))
    except (TypeError, ValueError):
        return None  # "Expires: 0" and other invalid dates mean already expired
    # The upstream's Date header is replaced by ours on the way through, so our clock decides.
    return when.timestamp() - time.time()
