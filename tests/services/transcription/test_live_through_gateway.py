"""A live session through the real gateway with an API key, as a customer would: made over REST,
its WebSocket relayed by the gateway (the key on the handshake), espeak-ng speech streamed in,
final results read as they come, and the stored transcript read back, all through the gateway."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest
import websockets

from tests.support.gateway import gateway_in_front_of
from v100.ai.testing import espeak_ng, make_utterances, word_error_rate
from v100.kit.testing.servers import serving
from v100.services.transcription.app import create_app
from v100.services.transcription.settings import TranscriptionSettings

from .support import INTERNAL_SECRET, Conversation, linear16, listen, send_audio

pytestmark = pytest.mark.slow

TEXT = "Please bring your laptop and a printed copy of the report."


async def test_a_live_session_through_the_gateway(
    ts_settings: TranscriptionSettings, tmp_path: Path
) -> None:
    if espeak_ng() is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    pcm, spoken = make_utterances(tmp_path / "speech", [TEXT], pause=1.0)
    async with (
        serving(create_app(ts_settings), ready=True) as service_url,
        gateway_in_front_of(
            "transcription",
            service_url,
            tmp_path / "gateway",
            internal_secret=INTERNAL_SECRET,
            scopes=["transcripts:read", "transcripts:write"],
        ) as (url, api_key),  # fmt: skip
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):
        headers = {"X-API-Key": api_key}
        created = await http.post(
            "/v1/transcription-sessions", json={"language": "en"},
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        session = created.json()
        heard = Conversation()
        ws_url = url.replace("http://", "ws://") + session["stream_path"]
        async with websockets.connect(
            ws_url, additional_headers=headers, proxy=None, open_timeout=30
        ) as socket:
            listener = asyncio.create_task(listen(socket, heard))
            await send_audio(socket, linear16(pcm), pace=2.0)
            await socket.send(json.dumps({"type": "CloseStream"}))
            await listener
        assert heard.code == 1000, heard.reason
        finals = [m for m in heard.finals if Conversation.words(m)]
        assert len(finals) == 1
        assert word_error_rate(TEXT, Conversation.text(finals[0])) <= 0.25
        assert Conversation.words(finals[0])[0]["start"] == pytest.approx(spoken[0].start, abs=0.4)
        assert heard.messages[-1]["type"] == "Metadata"

        for _ in range(300):
            answer = await http.get(f"/v1/transcription-sessions/{session['id']}", headers=headers)
            if answer.json()["status"] == "closed":
                break
            await asyncio.sleep(0.1)
        assert answer.json()["ended"]["reason"] == "close-stream"
        transcript = await http.get(
            f"/v1/transcripts/{answer.json()['transcript_id']}", headers=headers
        )
        assert transcript.status_code == 200, transcript.text
        assert transcript.json()["text"] == Conversation.text(finals[0])

        # Without a credential the gateway refuses the handshake.
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(ws_url, proxy=None, open_timeout=10):
                pass
