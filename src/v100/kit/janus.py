"""A client of Janus's HTTP API (the SFU of rooms past mesh size, ADR 0058): sessions kept alive
by a long-poll of their events, plugin handles, requests and messages matched to their answers by
transaction id, trickle; and the VideoRoom plugin's rooms (create with a secret, a pin and a cap
on publishers; exists; destroy), named the same by every service from the installation's secret.

    JanusError                 Janus or its plugin refused (``code``, ``reason``)
    JanusUnavailable           Janus does not answer (a BackendUnavailable: 503, retry)

Janus's API is only ever reached from our services: browsers talk to signaling, which relays
their SDP (docs/sfu.md)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger

__all__ = [
    "VIDEOROOM",
    "Janus",
    "JanusError",
    "JanusEvent",
    "JanusHandle",
    "JanusSession",
    "JanusUnavailable",
    "VideoRoom",
    "VideoRooms",
    "video_room",
]

VIDEOROOM = "janus.plugin.videoroom"
_log = get_logger("v100.kit.janus")
_SECRET_IN_URL = re.compile(r"(apisecret=)[^&\s\"']+")


class _NoSecretInLogs(logging.Filter):
    """The long-poll carries ``apisecret`` in its query (a GET has no body); httpx logs each
    request's URL: the secret is blanked out of those lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("apisecret=" in str(a) for a in record.args):
            # Only the arguments that carry it become text: the others keep their type for the
            # message's own format (httpx's status code is a %d).
            record.args = tuple(
                _SECRET_IN_URL.sub(r"\1***", str(arg)) if "apisecret=" in str(arg) else arg
                for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_NoSecretInLogs())
# VideoRoom's codes the rooms below answer without an exception (janus_videoroom.c).
ROOM_EXISTS = 427
NO_SUCH_ROOM = 426


class JanusError(Exception):
    """Janus, or one of its plugins, refused a request."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"janus error {code}: {reason}")
        self.code = code
        self.reason = reason


class JanusUnavailable(BackendUnavailable):
    """Janus did not answer (stopped, or its session was lost)."""


@dataclass(frozen=True, slots=True)
class JanusEvent:
    """An event of a handle: the plugin's ``data`` and, with an SDP, its ``jsep``; ``kind`` is
    Janus's own type (``event``, ``webrtcup``, ``media``, ``hangup``, ``detached`` ...)."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    jsep: dict[str, Any] | None = None


def _transaction() -> str:
    return secrets.token_urlsafe(9)


class Janus:
    """One Janus server's HTTP API (``url`` ends in its base path, ``/janus``)."""

    def __init__(
        self, url: str, secret: str | None = None, *, timeout: float = 10.0, poll_seconds: int = 30
    ) -> None:
        self.url = url.rstrip("/")
        self.secret = secret
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        # The long-polls hold a connection each; requests need their own.
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, read=poll_seconds + timeout), trust_env=False
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST one Janus message; its answer (a ``janus: error`` answer raises)."""
        body = {**body, "transaction": body.get("transaction") or _transaction()}
        if self.secret is not None:
            body["apisecret"] = self.secret
        try:
            response = await self.http.post(self.url + path, json=body)
            answer: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise JanusUnavailable(f"Janus did not answer: {exc!r}") from None
        if answer.get("janus") == "error":
            error = answer.get("error") or {}
            raise JanusError(int(error.get("code", 0)), str(error.get("reason", "")))
        return answer

    async def info(self) -> dict[str, Any]:
        try:
            response = await self.http.get(self.url + "/info")
            return dict(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise JanusUnavailable(f"Janus did not answer: {exc!r}") from None

    async def session(self) -> JanusSession:
        """A new session, its events polled until it is destroyed."""
        answer = await self.post("", {"janus": "create"})
        session = JanusSession(self, int(answer["data"]["id"]))
        session.start()
        return session


class JanusSession:
    """A Janus session: its handles, and one long-poll that hands each event to the request
    waiting for it (by transaction) or to its handle's queue. The poll keeps the session alive
    (Janus ends a session after ``session_timeout`` without a request); a failed poll ends it."""

    def __init__(self, janus: Janus, session_id: int) -> None:
        self.janus = janus
        self.id = session_id
        self.handles: dict[int, JanusHandle] = {}
        self.waiting: dict[str, asyncio.Future[JanusEvent]] = {}
        self.alive = True
        self._poll: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._poll = asyncio.create_task(self._polling(), name=f"janus-session:{self.id}")

    async def attach(self, plugin: str = VIDEOROOM) -> JanusHandle:
        answer = await self.post({"janus": "attach", "plugin": plugin})
        handle = JanusHandle(self, int(answer["data"]["id"]))
        self.handles[handle.id] = handle
        return handle

    async def post(self, body: dict[str, Any], handle: int | None = None) -> dict[str, Any]:
        if not self.alive:
            raise JanusUnavailable(f"Janus session {self.id} has ended.")
        path = f"/{self.id}" + ("" if handle is None else f"/{handle}")
        return await self.janus.post(path, body)

    async def destroy(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poll
        if self.alive:
            with contextlib.suppress(JanusError, JanusUnavailable):
                await self.post({"janus": "destroy"})
        self._ended()

    def _ended(self) -> None:
        self.alive = False
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(JanusUnavailable(f"Janus session {self.id} has ended."))
        self.waiting.clear()
        for handle in self.handles.values():
            handle.events.put_nowait(JanusEvent("detached"))

    async def _polling(self) -> None:
        janus = self.janus
        params: dict[str, str | int] = {"maxev": 10}
        if janus.secret is not None:
            params["apisecret"] = janus.secret
        failures = 0
        while True:
            try:
                response = await janus.http.get(f"{janus.url}/{self.id}", params=params)
                answer = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                failures += 1
                if failures >= 3:
                    _log.warning("janus: session lost", session=self.id, error=repr(exc))
                    self._ended()
                    return
                await asyncio.sleep(0.5)
                continue
            failures = 0
            for event in answer if isinstance(answer, list) else [answer]:
                if event.get("janus") == "error":  # no such session: it timed out in Janus
                    _log.warning("janus: session ended", session=self.id, error=event)
                    self._ended()
                    return
                self._dispatch(event)

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = str(event.get("janus"))
        if kind in ("keepalive", "ack"):
            return
        plugindata = event.get("plugindata") or {}
        data = dict(plugindata.get("data") or {})
        if kind == "trickle":  # Janus's own candidate ({"completed": true}: no more)
            data = dict(event.get("candidate") or {})
        parsed = JanusEvent(kind, data, event.get("jsep"))
        future = self.waiting.pop(str(event.get("transaction")), None)
        if future is not None and not future.done():
            future.set_result(parsed)
            return
        handle = self.handles.get(int(event.get("sender") or 0))
        if handle is not None:
            handle.events.put_nowait(parsed)


class JanusHandle:
    """A plugin handle: requests (answered at once), messages (acknowledged, then answered by an
    event), trickle; and ``events``, what the plugin says unasked (publishers coming and going,
    the PeerConnection up or hung up)."""

    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.id = handle_id
        self.events: asyncio.Queue[JanusEvent] = asyncio.Queue()

    async def message(
        self, body: dict[str, Any], jsep: dict[str, Any] | None = None, *, within: float = 20.0
    ) -> JanusEvent:
        """Send ``body`` (and an SDP); the plugin's answer, whether synchronous or an event that
        follows the acknowledgement. A plugin's ``error_code`` raises ``JanusError``."""
        transaction = _transaction()
        future: asyncio.Future[JanusEvent] = asyncio.get_running_loop().create_future()
        self.session.waiting[transaction] = future
        message: dict[str, Any] = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            message["jsep"] = jsep
        try:
            answer = await self.session.post(message, self.id)
            if answer.get("janus") == "success":
                plugindata = answer.get("plugindata") or {}
                event = JanusEvent("success", dict(plugindata.get("data") or {}))
            else:
                try:
                    async with asyncio.timeout(within):
                        event = await future
                except TimeoutError:
                    request = body.get("request")
                    raise JanusUnavailable(f"Janus did not answer {request!r}.") from None
        finally:
            self.session.waiting.pop(transaction, None)
        if "error_code" in event.data:
            raise JanusError(int(event.data["error_code"]), str(event.data.get("error", "")))
        return event

    async def trickle(self, candidate: dict[str, Any] | None) -> None:
        """One ICE candidate of the other side, or None: it has no more."""
        body: dict[str, Any] = {"janus": "trickle"}
        body["candidate"] = {"completed": True} if candidate is None else candidate
        await self.session.post(body, self.id)

    async def detach(self) -> None:
        self.session.handles.pop(self.id, None)
        if self.session.alive:
            with contextlib.suppress(JanusError, JanusUnavailable):
                await self.session.post({"janus": "detach"}, self.id)


# -- VideoRoom rooms ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VideoRoom:
    """A VideoRoom room as every service names it: ``number`` (Janus's room id), ``secret`` (to
    destroy or edit it) and ``pin`` (to join it), all derived from the installation's secret and
    the room's key, so the services agree without storing or passing them around."""

    number: int
    secret: str
    pin: str


def video_room(installation_secret: str, room_key: str) -> VideoRoom:
    def derive(purpose: str) -> bytes:
        message = f"v100.sfu.{purpose}:{room_key}".encode()
        return hmac.new(installation_secret.encode(), message, hashlib.sha256).digest()

    # 48 bits: a JSON number every client reads exactly (JavaScript's are exact to 2**53).
    number = int.from_bytes(derive("room")[:6], "big") or 1
    return VideoRoom(number, derive("secret").hex()[:32], derive("pin").hex()[:24])


class VideoRooms:
    """Making and ending VideoRoom rooms, on one session and handle kept for it (made again
    when Janus lost them)."""

    def __init__(self, janus: Janus, admin_key: str | None = None) -> None:
        self.janus = janus
        self.admin_key = admin_key
        self._handle: JanusHandle | None = None
        self._lock = asyncio.Lock()

    async def _videoroom(self) -> JanusHandle:
        async with self._lock:
            if self._handle is None or not self._handle.session.alive:
                session = await self.janus.session()
                self._handle = await session.attach(VIDEOROOM)
            return self._handle

    async def _request(self, body: dict[str, Any]) -> dict[str, Any]:
        handle = await self._videoroom()
        try:
            return (await handle.message(body)).data
        except JanusError as exc:
            if exc.code in (458, 459):  # Janus lost the session or handle (it restarted)
                self._handle = None
                return (await (await self._videoroom()).message(body)).data
            raise

    async def create(self, room: VideoRoom, *, publishers: int, description: str = "") -> bool:
        """Make the room; False when it was there already."""
        body: dict[str, Any] = {
            "request": "create", "room": room.number, "secret": room.secret, "pin": room.pin,
            "publishers": publishers, "is_private": True, "permanent": False,
            "description": description[:100], "audiolevel_event": True,
            "audio_active_packets": 50, "audio_level_average": 40, "notify_joining": False,
        }  # fmt: skip
        if self.admin_key is not None:
            body["admin_key"] = self.admin_key
        try:
            await self._request(body)
        except JanusError as exc:
            if exc.code == ROOM_EXISTS:
                return False
            raise
        return True

    async def exists(self, room: VideoRoom) -> bool:
        data = await self._request({"request": "exists", "room": room.number})
        return bool(data.get("exists"))

    async def destroy(self, room: VideoRoom) -> bool:
        """End the room (its peers are told and hung up); False when there was none."""
        body = {"request": "destroy", "room": room.number, "secret": room.secret}
        try:
            await self._request(body)
        except JanusError as exc:
            if exc.code == NO_SUCH_ROOM:
                return False
            raise
        return True

    async def close(self) -> None:
        if self._handle is not None:
            await self._handle.session.destroy()
            self._handle = None
