"""Fetching a URL a user gave us ("import from URL") without letting it reach our own network
(SSRF): http/https only, every address the host resolves to must be public (private, loopback,
link-local, multicast, reserved, unspecified and shared ranges refused, IPv4 inside IPv6 too)
unless a configured CIDR allows it, the connection goes to the address that was checked (no
DNS-rebinding window), every redirect is checked again, and size and time are bounded.

    policy = FetchPolicy(max_bytes=settings.import_max_bytes,
                         allow_cidrs=settings.import_allow_cidrs)   # e.g. ("10.20.0.0/16",)
    async with fetch_url(url, policy) as response:       # raises before any byte is read
        stored = await store.put(key, response.iter_bytes(), response.content_type)
    # or: stored = await fetch_to_store(url, store, key, policy)

Failures are problems (kit.errors): ``UrlNotAllowed`` 400 (scheme, credentials, a refused
address, also after a redirect), ``UrlTooLarge`` 413, ``UrlFetchFailed`` 502 (unreachable,
timed out, too many redirects, a non-2xx answer).

Sending to a URL a user gave us (a webhook receiver) follows the same rules, redirects never
followed: ``await check_url(url, policy)`` when the URL is registered, and ``kit.outbound`` at
each delivery (DNS may have changed since).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from v100.kit.errors import BadRequest, PayloadTooLarge, ProblemError
from v100.kit.storage import ObjectStore, StoredObject

__all__ = [
    "FetchPolicy",
    "FetchedResponse",
    "UrlFetchFailed",
    "UrlNotAllowed",
    "UrlTooLarge",
    "check_address",
    "check_url",
    "fetch_to_store",
    "fetch_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# RFC 6598 shared address space (carrier NAT) is not "private" to ``ipaddress`` but is not a
# public destination either; NAT64 (RFC 6052) carries an IPv4 address in its low 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UrlNotAllowed(BadRequest):
    slug = "url-not-allowed"
    title = "URL not allowed"


class UrlTooLarge(PayloadTooLarge):
    slug = "url-too-large"
    title = "The resource at the URL is too large"


class UrlFetchFailed(ProblemError):
    status = 502
    slug = "url-fetch-failed"
    title = "The URL could not be fetched"


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    # Networks allowed even though they are not public: loopback for tests, a self-hoster's
    # own media server. Empty by default.
    allow_cidrs: tuple[str, ...] = ()
    max_bytes: int = 5 * 1024**3
    max_redirects: int = 5
    connect_timeout: float = 10.0
    # Longest wait for the next bytes, and for the whole transfer.
    read_timeout: float = 30.0
    total_timeout: float = 3600.0
    schemes: tuple[str, ...] = ("http", "https")
    # None: any port.
    ports: tuple[int, ...] | None = None
    user_agent: str = "v100-fetch/1"
    # False: only ``allow_cidrs`` may be reached (a test rig that must never leave loopback).
    public: bool = True
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        networks = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in self.allow_cidrs)
        object.__setattr__(self, "_networks", networks)

    def allows(self, address: IPAddress) -> bool:
        return any(address in network for network in self._networks)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> Iterable[ipaddress.IPv4Address]:
    if address.ipv4_mapped is not None:
        yield address.ipv4_mapped
    if address.sixtofour is not None:
        yield address.sixtofour
    if address.teredo is not None:
        yield from address.teredo
    if address in _NAT64:
        yield ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


def _is_public(address: IPAddress) -> bool:
    if not address.is_global or address.is_multicast or address.is_reserved:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        return all(_is_public(inner) for inner in _embedded_ipv4(address))
    return True


def check_address(address: str | IPAddress, policy: FetchPolicy) -> IPAddress:
    """The address if a fetch may connect to it; ``UrlNotAllowed`` otherwise."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # one rule for 127.0.0.1 and ::ffff:127.0.0.1
    if policy.allows(ip) or (policy.public and _is_public(ip)):
        return ip
    if not policy.public:
        raise UrlNotAllowed(f"the URL's host resolves to {ip}, outside the allowed networks")
    raise UrlNotAllowed(f"the URL's host resolves to {ip}, which is not a public address")


@dataclass(frozen=True, slots=True)
class _Target:
    url: httpx.URL
    address: IPAddress
    port: int


async def _resolve(url: httpx.URL, policy: FetchPolicy) -> _Target:
    if url.scheme not in policy.schemes:
        raise UrlNotAllowed(f"only {', '.join(policy.schemes)} URLs can be fetched")
    if url.userinfo:
        raise UrlNotAllowed("URLs with credentials in them are not fetched")
    host = url.host
    if not host:
        raise UrlNotAllowed("the URL has no host")
    port = url.port or (443 if url.scheme == "https" else 80)
    if policy.ports is not None and port not in policy.ports:
        raise UrlNotAllowed(f"port {port} is not allowed")
    try:
        # An address written in the URL needs no lookup (nor a trip to the resolver's threads).
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = await _lookup(host, port)
    if not addresses:
        raise UrlFetchFailed(f"the URL's host {host!r} does not resolve")
    # Every address must pass: a name with one public and one private record is refused,
    # whichever the connection would have picked.
    checked = [check_address(address, policy) for address in addresses]
    return _Target(url, checked[0], port)


async def _lookup(host: str, port: int) -> list[IPAddress]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlFetchFailed(f"the URL's host {host!r} does not resolve") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


@dataclass(slots=True)
class FetchedResponse:
    """An answered fetch: status, headers and the body as a bounded stream."""

    url: str  # after redirects
    status_code: int
    headers: httpx.Headers
    _response: httpx.Response
    _policy: FetchPolicy
    _deadline: float

    @property
    def content_type(self) -> str | None:
        value: str | None = self.headers.get("content-type")
        return value

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length", "")
        return int(value) if value.isdigit() else None

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        received = 0
        chunks = self._response.aiter_raw()
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise UrlFetchFailed("the download took too long")
            try:
                chunk = await asyncio.wait_for(anext(chunks), remaining)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise UrlFetchFailed("the download took too long") from None
            except httpx.HTTPError as exc:
                raise UrlFetchFailed(f"the download broke off: {type(exc).__name__}") from exc
            received += len(chunk)
            if received > self._policy.max_bytes:
                raise UrlTooLarge(f"the resource is over {self._policy.max_bytes} bytes")
            yield chunk

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_bytes()])


@asynccontextmanager
async def fetch_url(
    url: str,
    policy: FetchPolicy | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[FetchedResponse]:
    """GET ``url`` under ``policy``; the body streams from ``iter_bytes()`` inside the block."""
    policy = policy or FetchPolicy()
    deadline = time.monotonic() + policy.total_timeout
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    try:
        current = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UrlNotAllowed(f"not a URL: {exc}") from exc
    # No proxies or certificates from the environment, no redirects behind our back, no
    # decompression (max_bytes counts what crosses the wire; the object is kept as sent).
    async with httpx.AsyncClient(
        trust_env=False, follow_redirects=False, timeout=timeout
    ) as client:
        for _ in range(policy.max_redirects + 1):
            target = await _resolve(current, policy)
            response = await _send(client, target, headers, policy)
            if response.status_code in _REDIRECTS and "location" in response.headers:
                await response.aclose()
                try:
                    current = current.join(response.headers["location"])
                except (httpx.InvalidURL, ValueError) as exc:
                    raise UrlFetchFailed("the URL redirects to an invalid location") from exc
                continue
            try:
                if not 200 <= response.status_code < 300:
                    raise UrlFetchFailed(
                        f"the URL answered {response.status_code}",
                        extra={"upstream_status": response.status_code},
                    )
                fetched = FetchedResponse(
                    str(current),
                    response.status_code,
                    response.headers,
                    response,
                    policy,
                    deadline,
                )
                declared = fetched.content_length
                if declared is not None and declared > policy.max_bytes:
                    raise UrlTooLarge(f"the resource is {declared} bytes, over the limit")
                yield fetched
            finally:
                await response.aclose()
            return
    raise UrlFetchFailed(f"the URL redirects more than {policy.max_redirects} times")


async def _send(
    client: httpx.AsyncClient,
    target: _Target,
    headers: Mapping[str, str] | None,
    policy: FetchPolicy,
    *,
    method: str = "GET",
    content: bytes | None = None,
) -> httpx.Response:
    """Connect to the checked address while the request still names the host (Host header,
    TLS SNI and certificate check), so a second DNS answer can never be used."""
    url = target.url
    host = url.host
    wire_url = url.copy_with(host=str(target.address), port=target.port)
    default_port = 443 if url.scheme == "https" else 80
    host_header = host if url.port in (None, default_port) else f"{host}:{url.port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if url.port in (None, default_port) else f"[{host}]:{url.port}"
    sent: dict[str, str] = {"User-Agent": policy.user_agent, "Accept-Encoding": "identity"}
    sent.update(headers or {})
    sent["Host"] = host_header
    extensions: dict[str, Any] = {}
    if url.scheme == "https":
        extensions["sni_hostname"] = host
    request = client.build_request(
        method, wire_url, headers=sent, content=content, extensions=extensions
    )
    try:
        return await client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise UrlFetchFailed("the URL did not answer in time") from exc
    except httpx.HTTPError as exc:
        raise UrlFetchFailed(f"the URL could not be reached: {type(exc).__name__}") from exc


async def fetch_to_store(
    url: str,
    store: ObjectStore,
    key: str,
    policy: FetchPolicy | None = None,
    *,
    content_type: str | None = None,
) -> StoredObject:
    """Stream ``url`` into ``store`` under ``key`` (atomically: nothing is left on failure)."""
    async with fetch_url(url, policy) as response:
        return await store.put(key, response.iter_bytes(), content_type or response.content_type)


async def check_url(url: str, policy: FetchPolicy | None = None) -> str:
    """The URL, normalized, when a request may be sent to it now (scheme, no credentials, every
    address its host resolves to allowed); ``UrlNotAllowed`` or ``UrlFetchFailed`` (does not
    resolve) otherwise."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UrlNotAllowed(f"not a URL: {exc}") from exc
    await _resolve(parsed, policy or FetchPolicy())
    return str(parsed)
