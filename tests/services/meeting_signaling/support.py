"""What meeting_signaling's tests share: meeting tokens minted as the meeting service mints
them, and ``Peer``, a websockets client speaking the protocol (it answers the server's pings
by itself unless told not to, keeps them apart from the room's messages, and keeps the last
``seq`` it handled for a resume)."""

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

SECRET = "meeting-signaling-test-secret-0123456789abcdef"
TOKENS = MeetingTokens(SECRET)

# A minimal session description: what the protocol checks is its grammar, not its media.
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
CANDIDATE = {
    "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}


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


class Peer:
    """One signaling socket, joined."""

    def __init__(self, socket: ClientConnection, *, answer_pings: bool = True) -> None:
        self.socket = socket
        self.answer_pings = answer_pings
        self.joined: dict[str, Any] = {}
        self.last_seq = 0
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.pings: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed: asyncio.Future[tuple[int | None, str]] = (
            asyncio.get_running_loop().create_future()
        )
        self._reader = asyncio.create_task(self._read())

    @property
    def session_id(self) -> str:
        return str(self.joined["session_id"])

    @classmethod
    async def join(
        cls,
        url: str,
        token: str,
        *,
        session_id: str | None = None,
        last_seq: int = 0,
        answer_pings: bool = True,
    ) -> Peer:
        socket = await websockets.connect(url, proxy=None, open_timeout=10, max_size=2**22)
        peer = cls(socket, answer_pings=answer_pings)
        join: dict[str, Any] = {"type": "join", "token": token}
        if session_id is not None:
            join |= {"session_id": session_id, "last_seq": last_seq}
        await peer.send(join)
        peer.joined = await peer.next("joined")
        return peer

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def next(self, kind: str | None = None, within: float = 10.0) -> dict[str, Any]:
        """The next message (of type ``kind``: others before it are skipped). The server's
        pings are apart: ``next("ping")``."""
        queue = self.pings if kind == "ping" else self.inbox
        async with asyncio.timeout(within):
            while True:
                message = await queue.get()
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

    async def leave(self) -> None:
        await self.send({"type": "leave"})
        await self.close_code()

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self.socket.close()

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                message = json.loads(raw)
                if message["type"] == "ping":  # liveness, beside the room's traffic
                    if self.answer_pings:
                        await self.send({"type": "pong", "id": message["id"]})
                    await self.pings.put(message)
                    continue
                if message["type"] == "joined":  # what the replay after it starts from
                    self.last_seq = message["last_seq"]
                if "seq" in message:
                    assert message["seq"] > self.last_seq, (message, self.last_seq)
                    self.last_seq = message["seq"]
                await self.inbox.put(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            received = self.socket.protocol.close_rcvd
            if not self.closed.done():
                self.closed.set_result((received.code, received.reason) if received else (None, ""))
