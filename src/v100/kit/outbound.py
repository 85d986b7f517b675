"""Sending requests to URLs users gave us (webhook receivers), under ``kit.fetch``'s rules:
http/https only, no credentials in the URL, every address the host resolves to checked against
the policy (private, loopback, link-local and the rest refused unless a configured CIDR allows
them), redirects answered as they are and never followed, and the whole exchange bounded in
time, with at most ``read_limit`` bytes of the answer kept.

    sender = OutboundSender(policy, per_host=8, total=64)
    answer = await sender.send("POST", url, headers=headers, content=body, read_limit=1024)
    await sender.aclose()

One aiohttp session serves every receiver. Its connector resolves names through a resolver that
checks each answer, and resolves again for every new connection (no DNS cache), so a connection
is only ever opened to an address checked when it was opened; an address written in the URL is
checked before the request. Connections are pooled by host name and port, so a TLS connection
carries the SNI and certificate check of its own name. Cookies are never kept (one receiver
cannot set what another would be sent).

aiohttp rather than httpx: on this path (many small POSTs to pooled keep-alive connections)
httpx costs about 2 ms of CPU per request at 32 in flight, aiohttp about 0.15 ms
(bench/webhook_deliveries.py, ADR 0030)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDictProxy
from yarl import URL

from v100.kit.fetch import FetchPolicy, UrlFetchFailed, UrlNotAllowed, check_address

__all__ = ["CheckedResponse", "OutboundSender", "checked_session", "checked_url"]


@dataclass(frozen=True, slots=True)
class CheckedResponse:
    """What a receiver answered: its status, headers and at most ``read_limit`` bytes of body
    (``truncated`` when it sent more)."""

    status_code: int
    headers: CIMultiDictProxy[str]
    body: bytes
    truncated: bool


class _CheckingResolver(AbstractResolver):
    """The system's resolver, every answer checked: a name with one allowed and one refused
    address is refused, whichever the connection would have picked."""

    def __init__(self, policy: FetchPolicy) -> None:
        self._policy = policy
        self._system = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            answers = await self._system.resolve(host, port, family)
        except OSError as exc:
            raise UrlFetchFailed(f"the URL's host {host!r} does not resolve") from exc
        for answer in answers:
            check_address(answer["host"].split("%", 1)[0], self._policy)
        return answers

    async def close(self) -> None:
        await self._system.close()


class OutboundSender:
    """Requests to users' URLs under ``policy``: at most ``per_host`` connections to one host
    and ``total`` in all."""

    def __init__(self, policy: FetchPolicy, *, per_host: int, total: int) -> None:
        self.policy = policy
        self._limits = (per_host, total)
        self._session: aiohttp.ClientSession | None = None

    def _opened(self) -> aiohttp.ClientSession:
        if self._session is None:
            per_host, total = self._limits
            self._session = checked_session(self.policy, per_host=per_host, total=total)
        return self._session

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        read_limit: int = 4096,
    ) -> CheckedResponse:
        """Send one request: the answer, whatever its status (a redirect included, not
        followed). Raises ``UrlNotAllowed``, or ``UrlFetchFailed`` for no answer in time or a
        broken connection."""
        target = self._checked(url)
        sent: dict[str, str] = {"User-Agent": self.policy.user_agent, "Accept-Encoding": "identity"}
        sent.update(headers or {})
        session = self._opened()
        try:
            async with asyncio.timeout(self.policy.total_timeout):
                request: Any = session.request(
                    method, target, headers=sent, data=content, allow_redirects=False
                )
                async with request as response:
                    body = bytearray()
                    truncated = False
                    async for chunk in response.content.iter_any():
                        body += chunk
                        if len(body) > read_limit:
                            truncated = True
                            break
                    return CheckedResponse(
                        response.status, response.headers, bytes(body[:read_limit]), truncated
                    )
        except TimeoutError:
            limit = self.policy.total_timeout
            raise UrlFetchFailed(f"no complete answer within {limit:g} s") from None
        except aiohttp.ClientError as exc:
            raise UrlFetchFailed(f"the URL could not be reached: {type(exc).__name__}") from exc

    def _checked(self, url: str) -> URL:
        return checked_url(url, self.policy)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def checked_session(policy: FetchPolicy, *, per_host: int, total: int) -> aiohttp.ClientSession:
    """An aiohttp session under ``policy``: every name it connects to is resolved again and
    checked (no DNS cache), no cookies kept, no decompression, the policy's timeouts. Send it
    only URLs that passed ``checked_url`` (aiohttp does not resolve an address in a URL)."""
    connector = aiohttp.TCPConnector(
        limit=total,
        limit_per_host=per_host,
        resolver=_CheckingResolver(policy),
        use_dns_cache=False,
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        trust_env=False,
        timeout=aiohttp.ClientTimeout(
            total=policy.total_timeout,
            sock_connect=policy.connect_timeout,
            sock_read=policy.read_timeout,
        ),
    )


def checked_url(url: str, policy: FetchPolicy) -> URL:
    """``url`` parsed, when a request may be sent to it under ``policy`` (scheme, no
    credentials, port, an address written in it allowed; a name is checked when it resolves);
    ``UrlNotAllowed`` otherwise."""
    try:
        target = URL(url)
    except (ValueError, TypeError) as exc:
        raise UrlNotAllowed(f"not a URL: {exc}") from exc
    if target.scheme not in policy.schemes:
        raise UrlNotAllowed(f"only {', '.join(policy.schemes)} URLs can be fetched")
    if target.user or target.password:
        raise UrlNotAllowed("URLs with credentials in them are not fetched")
    if not target.host:
        raise UrlNotAllowed("the URL has no host")
    port = target.port or (443 if target.scheme == "https" else 80)
    if policy.ports is not None and port not in policy.ports:
        raise UrlNotAllowed(f"port {port} is not allowed")
    try:
        literal = ipaddress.ip_address(target.host.split("%", 1)[0])
    except ValueError:
        return target  # a name: the connector's resolver checks what it resolves to
    check_address(literal, policy)  # aiohttp does not resolve an address
    return target
