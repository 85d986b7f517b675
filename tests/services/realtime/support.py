"""What realtime's tests share: meeting tokens minted as the meeting service mints them, and
``Client``, a websockets client speaking the protocol that keeps the last ``seq`` it handled
(and checks that each comes once, in order)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from v100.contracts.meeting_tokens import MeetingGrants, MeetingToken, MeetingTokens

SECRET = "realtime-test-secret-0123456789abcdef0123"
TOKENS = MeetingTokens(SECRET)


def mint(
    meeting_id: str,
    participant_id: str | None = None,
    *,
    tenant_id: str = "tenant-a",
    room: str = "main",
    expires_in: float = 600,
    grants: MeetingGrants | None = None,
    secret_tokens: MeetingTokens = TOKENS,
) -> str:
    participant = participant_id or f"p-{uuid.uuid4().hex[:8]}"
    return secret_tokens.mint(
        MeetingToken(
            tenant_id=tenant_id, meeting_id=meeting_id, participant_id=participant,
            name=participant.title(), role="participant",
            grants=grants or MeetingGrants.for_role("participant"),
            expires_at=int(time.time() + expires_in), room=room,
        )
    )  # fmt: skip


class Client:
    """One realtime socket, joined."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.joined: dict[str, Any] = {}
        self.last_seq = 0
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed: asyncio.Future[tuple[int | None, str]] = (
            asyncio.get_running_loop().create_future()
        )
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def join(cls, url: str, token: str, *, since: int | None = None) -> Client:
        socket = await websockets.connect(url, proxy=None, open_timeout=10)
        client = cls(socket)
        join: dict[str, Any] = {"type": "join", "token": token}
        if since is not None:
            join["since"] = since
        await client.send(join)
        client.joined = await client.next("joined")
        return client

    @property
    def participants(self) -> dict[str, dict[str, Any]]:
        return {p["participant_id"]: p for p in self.joined["participants"]}

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def next(self, kind: str | None = None, within: float = 10.0) -> dict[str, Any]:
        """The next message (of type ``kind``: others before it are skipped)."""
        async with asyncio.timeout(within):
            while True:
                message = await self.inbox.get()
                if kind is None or message["type"] == kind:
                    return message

    async def silent(self, within: float = 0.3) -> None:
        """Nothing arrives within ``within`` seconds."""
        with contextlib.suppress(TimeoutError):
            message = await self.next(within=within)
            raise AssertionError(f"unexpected {message}")

    async def close_code(self, within: float = 10.0) -> tuple[int | None, str]:
        async with asyncio.timeout(within):
            return await asyncio.shield(self.closed)

    async def drop(self) -> None:
        """The network goes: the TCP connection ends with no close frame."""
        self.socket.transport.abort()
        await asyncio.sleep(0)

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self.socket.close()

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                message = json.loads(raw)
                if message["type"] == "joined":  # what follows it starts after its seq
                    self.last_seq = message["seq"]
                elif "seq" in message:
                    assert message["seq"] == self.last_seq + 1, (message, self.last_seq)
                    self.last_seq = message["seq"]
                await self.inbox.put(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            received = self.socket.protocol.close_rcvd
            if not self.closed.done():
                self.closed.set_result((received.code, received.reason) if received else (None, ""))


async def refused(url: str, first: str) -> int | None:
    """The close code of a socket whose first message is ``first``."""
    async with websockets.connect(url, proxy=None) as socket:
        await socket.send(first)
        with contextlib.suppress(websockets.ConnectionClosed):
            await socket.recv()
    return socket.close_code
