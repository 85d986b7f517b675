"""What the response cache stores and under which key: a stored answer (status, headers, body,
when it was made, how long it stays fresh, its ETag and Vary names), its byte form for Redis, and
the key of a request, which partitions every entry by tenant and by credential scope."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from v100.kit.auth import Principal

__all__ = [
    "MAX_NODE_DEPTH",
    "CachedResponse",
    "RequestKey",
    "audience_of",
    "header_lines",
    "node_of",
    "path_nodes",
]

# Set per answer by our server or by middleware outside the cache (request id, limits, timing),
# or by the cache itself: never stored, so a replay never carries another request's values.
_NOT_STORED = frozenset(
    {
        b"age",
        b"cache-status",
        b"date",
        b"server",
        b"x-request-id",
        b"server-timing",
        b"ratelimit",
        b"ratelimit-policy",
        b"ratelimit-limit",
        b"ratelimit-remaining",
        b"ratelimit-reset",
        b"retry-after",
    }
)
# Path levels that get their own invalidation generation; an invalidation deeper than this
# drops everything under the deepest tracked level (more than asked, never less).
MAX_NODE_DEPTH = 8


def header_lines(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """``name: value\\r\\n`` for each header."""
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x00".join(parts).encode(), digest_size=16).hexdigest()


def path_nodes(path: str) -> tuple[str, ...]:
    """The path and its ancestors, shallowest first: ``/v1/videos/7`` → ``/``, ``/v1``,
    ``/v1/videos``, ``/v1/videos/7`` (capped at ``MAX_NODE_DEPTH`` segments)."""
    segments = [segment for segment in path.split("/") if segment][:MAX_NODE_DEPTH]
    nodes = ["/"]
    for end in range(1, len(segments) + 1):
        nodes.append("/" + "/".join(segments[:end]))
    return tuple(nodes)


def node_of(prefix: str) -> str:
    """The tracked node an invalidation prefix bumps (its deepest tracked ancestor-or-self)."""
    return path_nodes(prefix)[-1]


_audiences: dict[Principal, str] = {}
_MAX_AUDIENCES = 10_000


def audience_of(principal: Principal | None) -> str:
    """Everything of a caller, but who they are, that could change an upstream's answer: the
    kind of credential, role, tier and exact scope set. Callers that differ in any of these
    never share an entry, so a narrower key never sees what a broader one was shown."""
    if principal is None:
        return "anonymous"
    audience = _audiences.get(principal)
    if audience is None:
        kind = "key" if principal.api_key_id else "user" if principal.user_id else "service"
        scopes = ",".join(sorted(principal.scopes))
        audience = f"{kind}|{principal.role}|{principal.tier}|{scopes}"
        if len(_audiences) >= _MAX_AUDIENCES:
            _audiences.clear()  # rare; recomputing is cheap
        _audiences[principal] = audience
    return audience


class RequestKey:
    """Who asks (tenant, audience) for what (raw path, normalized query) with GET; HEAD is
    answered from GET's entries. ``parts`` keys the in-process tier; the digest (computed only
    when Redis is asked) keys the shared one, so no credential detail is written there."""

    __slots__ = ("_digest", "audience", "parts", "path", "query", "tenant")

    def __init__(self, tenant: str, audience: str, path: str, query: str) -> None:
        self.tenant = tenant
        self.audience = audience
        self.path = path
        self.query = query
        self.parts = (tenant, audience, path, query)
        self._digest: str | None = None

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = _digest(self.tenant, self.audience, "GET", self.path, self.query)
        return self._digest

    def variant_digest(self, values: Sequence[str | None]) -> str:
        if not values:
            return self.digest
        return _digest(self.digest, *(v if v is not None else "\x01absent" for v in values))


@dataclass(frozen=True, slots=True)
class CachedResponse:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    born_at: float  # wall-clock seconds when the upstream made it (stored-at less its Age)
    lifetime: float  # seconds it stays fresh from ``born_at``
    etag: bytes | None
    vary: tuple[str, ...]
    vary_values: tuple[str | None, ...]
    # The invalidation generations of its path levels when its fetch began (Redis only).
    generations: tuple[int, ...] = ()
    # ``headers`` as HTTP/1.1 header lines, made once: the hit path writes them as they are.
    lines: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", header_lines(self.headers))

    @classmethod
    def build(
        cls,
        status: int,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
        *,
        stored_at: float,
        lifetime: float,
        initial_age: float,
        vary: tuple[str, ...],
        vary_values: tuple[str | None, ...],
        generations: tuple[int, ...],
    ) -> CachedResponse:
        kept: list[tuple[bytes, bytes]] = []
        etag: bytes | None = None
        has_length = False
        for name, value in headers:
            lower = name.lower()
            if lower in _NOT_STORED:
                continue
            if lower == b"etag":
                etag = value
            elif lower == b"content-length":
                has_length = True
            kept.append((lower, value))
        if not has_length and status != 204:
            kept.append((b"content-length", str(len(body)).encode()))
        return cls(
            status=status,
            headers=tuple(kept),
            body=body,
            born_at=stored_at - initial_age,
            lifetime=lifetime,
            etag=etag,
            vary=vary,
            vary_values=vary_values,
            generations=generations,
        )

    def age(self, now: float) -> float:
        return max(0.0, now - self.born_at)

    def remaining(self, now: float) -> float:
        return self.lifetime - self.age(now)

    @property
    def size(self) -> int:
        """Bytes it holds, for the in-process budget (plus a flat share for the objects)."""
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers) + 256

    def to_bytes(self) -> bytes:
        meta = {
            "s": self.status,
            "h": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
            "b": self.born_at,
            "l": self.lifetime,
            "e": self.etag.decode("latin-1") if self.etag is not None else None,
            "v": list(self.vary),
            "x": list(self.vary_values),
            "g": list(self.generations),
        }
        # orjson never writes a raw newline, so the first one ends the metadata.
        return orjson.dumps(meta) + b"\n" + self.body

    @classmethod
    def from_bytes(cls, raw: bytes) -> CachedResponse:
        head, _, body = raw.partition(b"\n")
        meta = orjson.loads(head)
        etag = meta["e"]
        return cls(
            status=int(meta["s"]),
            headers=tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in meta["h"]),
            body=body,
            born_at=float(meta["b"]),
            lifetime=float(meta["l"]),
            etag=etag.encode("latin-1") if etag is not None else None,
            vary=tuple(meta["v"]),
            vary_values=tuple(meta["x"]),
            generations=tuple(int(g) for g in meta["g"]),
        )
