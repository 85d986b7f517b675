"""Through the gateway, as a customer and its participants would: the tenant's API key creates
a meeting and a token; the participant's browser joins with only the meeting token, which the
gateway forwards to its own meeting's room and nowhere else (ADR 0051)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.gateway import gateway_in_front_of
from v100.kit.settings import PlatformSettings
from v100.kit.testing.servers import serving
from v100.services.meeting.app import create_app
from v100.services.meeting.settings import MeetingSettings

from .support import INTERNAL_SECRET, bearer

pytestmark = pytest.mark.slow


async def test_a_participant_joins_through_the_gateway_with_its_meeting_token(
    tmp_path: Path,
) -> None:
    platform = PlatformSettings(var_dir=tmp_path, internal_token_secret=INTERNAL_SECRET)
    settings = MeetingSettings(
        platform=platform, database_url=f"sqlite+aiosqlite:///{tmp_path}/meeting.db"
    )
    async with (
        serving(create_app(settings)) as service_url,
        gateway_in_front_of(
            "meeting", service_url, tmp_path / "gateway", internal_secret=INTERNAL_SECRET
        ) as (url, api_key),
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):
        key = {"X-API-Key": api_key}
        made = await http.post(
            "/v1/meetings", json={"title": "Standup"}, headers={**key, "Idempotency-Key": "m"}
        )
        assert made.status_code == 201, made.text
        meeting_id = made.json()["id"]
        other = await http.post(
            "/v1/meetings", json={"title": "Other"}, headers={**key, "Idempotency-Key": "o"}
        )
        token = await http.post(
            f"/v1/meetings/{meeting_id}/tokens",
            json={"name": "Ada", "role": "host"},
            headers={**key, "Idempotency-Key": "t"},
        )
        assert token.status_code == 201, token.text
        participant = bearer(token.json()["token"])
        joined = await http.post(f"/v1/meetings/{meeting_id}/room/join", headers=participant)
        assert joined.status_code == 200, joined.text
        assert joined.json()["status"] == "joined"
        room = await http.get(f"/v1/meetings/{meeting_id}/room", headers=participant)
        assert [p["name"] for p in room.json()["participants"]] == ["Ada"]
        # Not a credential anywhere else: another meeting's room, the tenant's API.
        elsewhere = await http.post(
            f"/v1/meetings/{other.json()['id']}/room/join", headers=participant
        )
        assert elsewhere.status_code == 401
        tenant_route = await http.get(f"/v1/meetings/{meeting_id}", headers=participant)
        assert tenant_route.status_code == 401
        forged = await http.post(
            f"/v1/meetings/{meeting_id}/room/join", headers=bearer("not.a.token")
        )
        assert forged.status_code == 401
