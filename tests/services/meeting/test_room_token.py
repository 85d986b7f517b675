"""``POST room/token``: the caller's meeting token for the room it is in now, which its page
presents to signaling and realtime after a move: the same participant, ``jti`` and expiry (it
acts on the room routes as the held one does), the current room; refused to someone not in."""

from __future__ import annotations

from v100.contracts.meeting_tokens import MeetingTokens

from .conftest import Deploy
from .support import INTERNAL_SECRET

TOKENS = MeetingTokens(INTERNAL_SECRET)


async def test_a_moved_participant_gets_a_token_for_its_room(deploy: Deploy) -> None:
    async with deploy() as service:
        mid = (await service.create())["id"]
        host = await service.joined(mid, "Ada", role="host")
        bob = await service.joined(mid, "Bob")
        held = TOKENS.verify(bob["token"])

        main = await service.room(mid, bob["token"], "token")
        assert main.status_code == 200, main.text
        assert main.json()["room"] == "main"
        assert TOKENS.verify(main.json()["token"]).room == "main"

        made = await service.room(mid, host["token"], "breakouts", {"names": ["Red"]})
        red = made.json()[0]["id"]
        moved = await service.room(
            mid, host["token"], f"participants/{bob['participant_id']}/move", {"room": red}
        )
        assert moved.status_code == 200, moved.text
        answer = await service.room(mid, bob["token"], "token")
        assert answer.json()["room"] == red
        fresh = TOKENS.verify(answer.json()["token"])
        assert fresh.room == red
        assert (fresh.participant_id, fresh.token_id, fresh.expires_at) == (
            held.participant_id,
            held.token_id,
            held.expires_at,
        )
        # The room token acts on the room routes as the held one does.
        seen = await service.room(mid, answer.json()["token"], method="GET")
        assert seen.status_code == 200, seen.text
        assert seen.json()["me"]["room"] == red


async def test_no_room_token_for_someone_not_in(deploy: Deploy) -> None:
    async with deploy() as service:
        mid = (await service.create(waiting_room=True))["id"]
        await service.joined(mid, "Ada", role="host")
        cy = await service.token(mid, "Cy")
        never = await service.room(mid, cy["token"], "token")
        assert never.status_code == 409
        assert never.json()["type"].endswith("/participant-not-joined")
        knocked = await service.room(mid, cy["token"], "join")
        assert knocked.status_code == 202
        waiting = await service.room(mid, cy["token"], "token")
        assert waiting.json()["type"].endswith("/participant-not-joined")
        forged = await service.room(mid, cy["token"] + "x", "token")
        assert forged.status_code == 401
