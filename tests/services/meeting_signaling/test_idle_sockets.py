"""1,000 idle sockets held open by one signaling process (100 rooms of 10): every one is still
joined after several rounds of pings, a message still crosses a full room, and the process's
memory per socket stays bounded (the benchmark measures it at 5,000: bench/signaling.py)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from v100.kit.testing.processes import V100Process

from .support import SDP, SECRET, Peer, mint

pytestmark = pytest.mark.slow

SOCKETS, ROOMS = 1000, 100


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_a_thousand_idle_sockets(tmp_path: Path) -> None:
    env = {
        "V100_VAR_DIR": str(tmp_path),
        "V100_INTERNAL_TOKEN_SECRET": SECRET,
        "V100_LOG_LEVEL": "WARNING",
        # The socket protocol alone (tokens of made-up meetings; ADR 0061).
        "V100_MEETING_SIGNALING_CHECK_STANDING": "false",
        "V100_MEETING_SIGNALING_PING_INTERVAL_SECONDS": "1",
    }
    async with V100Process("serve", "meeting_signaling", env=env, log=tmp_path / "s.log") as p:
        base = p.url.replace("http://", "ws://") + "/v1/signaling/rooms/"
        meetings = [uuid.uuid4().hex for _ in range(ROOMS)]
        warm = await Peer.join(base + meetings[0], mint(meetings[0]))
        await warm.close()
        await asyncio.sleep(0.5)
        before = _rss_kib(p.pid)
        peers: list[Peer] = []
        for start in range(0, SOCKETS, 50):
            batch = [meetings[i % ROOMS] for i in range(start, start + 50)]
            peers += await asyncio.gather(*(Peer.join(base + m, mint(m)) for m in batch))
        await asyncio.sleep(3.5)  # three rounds of pings, answered
        after = _rss_kib(p.pid)
        per_socket = (after - before) * 1024 / SOCKETS
        print(f"\n{SOCKETS} idle sockets: {after - before} KiB more RSS, "
              f"{per_socket / 1024:.1f} KiB per socket")  # fmt: skip
        assert all(not peer.closed.done() for peer in peers)
        assert per_socket < 100 * 1024
        # A full room still relays.
        first, last = peers[0], peers[ROOMS * 9]  # both in the first room
        assert first.joined["room"] == "main"
        await last.send({"type": "offer", "to": first.session_id, "sdp": SDP})
        assert (await first.next("offer"))["from"] == last.session_id
        await asyncio.gather(*(peer.close() for peer in peers))
