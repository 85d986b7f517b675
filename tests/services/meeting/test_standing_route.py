"""``GET .../participants/{participant_id}/standing`` (scope ``service:meetings``, ADR 0061):
where a participant stands as its status and room change, through the contract's client over
the app; a tenant's credential, a meeting token and another tenant are refused."""

from __future__ import annotations

import httpx

from v100.contracts.meetings import MeetingsClient, working_for
from v100.kit.auth import InternalTokens, Principal
from v100.kit.http import ServiceClient
from v100.kit.testing.http import auth_headers

from .conftest import Deploy
from .support import INTERNAL_SECRET, bearer, new_tenant


async def test_standing_follows_the_participant(deploy: Deploy) -> None:
    async with deploy() as service:
        transport = httpx.ASGITransport(app=service.app)
        client = MeetingsClient(
            ServiceClient("http://meeting", InternalTokens(INTERNAL_SECRET, 300),
                          transport=transport)
        )  # fmt: skip
        mid = (await service.create(waiting_room=True))["id"]
        host = await service.joined(mid, "Ada", role="host")
        bob = await service.token(mid, "Bob")
        assert (await service.room(mid, bob["token"], "join")).status_code == 202  # knocks
        pid = bob["participant_id"]

        standing = await client.standing(service.tenant, mid, pid)
        assert standing is not None
        assert (standing.status, standing.room, standing.meeting_status) == (
            "waiting", "main", "live",
        )  # fmt: skip
        await service.room(mid, host["token"], f"waiting/{pid}/admit")
        red = (await service.room(mid, host["token"], "breakouts", {"names": ["Red"]})).json()
        await service.room(mid, host["token"], f"participants/{pid}/move", {"room": red[0]["id"]})
        standing = await client.standing(service.tenant, mid, pid)
        assert standing is not None
        assert (standing.status, standing.room) == ("joined", red[0]["id"])
        await service.room(mid, host["token"], f"participants/{pid}/remove")
        standing = await client.standing(service.tenant, mid, pid)
        assert standing is not None
        assert standing.status == "removed"
        await service.room(mid, host["token"], "end")
        standing = await client.standing(service.tenant, mid, host["participant_id"])
        assert standing is not None
        assert standing.meeting_status == "ended"

        # Another tenant's ask, an unknown participant: None (404).
        assert await client.standing(new_tenant(), mid, pid) is None
        assert await client.standing(service.tenant, mid, "nobody") is None
        path = f"/v1/meetings/{mid}/participants/{pid}/standing"
        # A tenant's own credential (every tenant scope) and a meeting token are refused.
        tenant = await service.http.get(path, headers=service.headers())
        assert tenant.status_code == 403, tenant.text
        as_participant = await service.http.get(path, headers=bearer(bob["token"]))
        assert as_participant.status_code == 401, as_participant.text
        signed = auth_headers(service.app, working_for(service.tenant))
        assert (await service.http.get(path, headers=signed)).status_code == 200
        other = Principal(tenant_id=service.tenant, scopes=frozenset({"service:recordings"}))
        assert (
            await service.http.get(path, headers=auth_headers(service.app, other))
        ).status_code == 403
        await client.aclose()
