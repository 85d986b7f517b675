"""Signaling through the real gateway, as a browser reaches it: no API key (a browser's
WebSocket carries no header), the meeting token in the first message; the gateway relays the
frames, and the service's close codes reach the caller."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import websockets

from tests.support.gateway import gateway_in_front_of
from v100.kit.testing.servers import serving
from v100.services.meeting_signaling.app import create_app

from .conftest import settings_for
from .support import SDP, SECRET, Peer, mint

pytestmark = pytest.mark.time_sensitive


async def test_signaling_through_the_gateway(tmp_path: Path) -> None:
    meeting = uuid.uuid4().hex
    app = create_app(settings_for({}, tmp_path / "signaling"))
    async with (
        serving(app, ready=True) as service_url,
        gateway_in_front_of(
            "meeting_signaling", service_url, tmp_path / "gateway", internal_secret=SECRET
        ) as (url, _api_key),
    ):
        rooms = url.replace("http://", "ws://") + "/v1/signaling/rooms/"
        ada = await Peer.join(rooms + meeting, mint(meeting, "ada"))
        bob = await Peer.join(rooms + meeting, mint(meeting, "bob"))
        await bob.send({"type": "offer", "to": ada.session_id, "sdp": SDP})
        assert (await ada.next("offer"))["from"] == bob.session_id

        async with websockets.connect(rooms + meeting, proxy=None) as socket:
            await socket.send(json.dumps({"type": "join", "token": mint(meeting, expires_in=-1)}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await socket.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
        # Another prefix of the gateway still wants a credential.
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(
                url.replace("http://", "ws://") + "/v1/signaling/other", proxy=None
            ):
                pass
        for peer in (ada, bob):
            await peer.close()
