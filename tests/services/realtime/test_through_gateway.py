"""Realtime through the real gateway, as a browser reaches it: no API key (a browser's
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
from v100.services.realtime.app import create_app

from .conftest import settings_for
from .support import SECRET, Client, mint, refused

pytestmark = pytest.mark.time_sensitive


async def test_realtime_through_the_gateway(tmp_path: Path) -> None:
    meeting = uuid.uuid4().hex
    app = create_app(settings_for({}, tmp_path / "realtime"))
    async with (
        serving(app, ready=True) as service_url,
        gateway_in_front_of(
            "realtime", service_url, tmp_path / "gateway", internal_secret=SECRET
        ) as (url, _api_key),
    ):
        rooms = url.replace("http://", "ws://") + "/v1/realtime/rooms/"
        ada = await Client.join(rooms + meeting, mint(meeting, "ada"))
        bob = await Client.join(rooms + meeting, mint(meeting, "bob"))
        await bob.send({"type": "state", "hand_raised": True})
        assert (await ada.next("participant.updated"))["changes"] == {"hand_raised": True}

        expired = json.dumps({"type": "join", "token": mint(meeting, expires_in=-1)})
        assert await refused(rooms + meeting, expired) == 4401
        # Another prefix of the gateway still wants a credential.
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(
                url.replace("http://", "ws://") + "/v1/realtime/other", proxy=None
            ):
                pass
        for client in (ada, bob):
            await client.close()
