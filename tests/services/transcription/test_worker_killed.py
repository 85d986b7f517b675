"""Kill the process running a transcription (SIGKILL, while the model decodes) and start it
again: the job is run again from the stored source, and the transcript completes once, its
credits held and captured once. The app runs as ``v100 serve transcription`` (embedded: its
jobs run in it), with a real billing app, on both backends (SQLite + local disk, PostgreSQL +
S3)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.billed import Backend, balance, billing_serving, new_tenant, tenant_headers
from v100.ai.testing import espeak_ng, make_speech, word_error_rate
from v100.kit.auth import InternalTokens
from v100.kit.testing.jobs import job_attempts
from v100.kit.testing.processes import V100Process

from .conftest import SPOKEN
from .support import INTERNAL_SECRET, SETTLED

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TOKENS = InternalTokens(INTERNAL_SECRET)
# About 22 s of speech: one started minute, and 5-10 s of decoding on two shared cores.
SAID = " ".join([SPOKEN] * 3)


@asynccontextmanager
async def _client(url: str, tenant: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = tenant_headers(TOKENS, tenant)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, trust_env=False, timeout=30
    ) as http:
        yield http


async def _transcript(http: httpx.AsyncClient, transcript_id: str) -> dict[str, Any]:
    answer = await http.get(f"/v1/transcripts/{transcript_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_killed_mid_transcription_the_transcript_completes_once(
    backend: Backend, tmp_path: Path, model_dir: Path
) -> None:
    """On SQLite + local disk and on PostgreSQL + S3 (the conftest's backends)."""
    if espeak_ng() is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    audio = make_speech(tmp_path / "standup.ogg", SAID, silence_before=0.5)
    tenant = new_tenant()
    async with billing_serving(backend) as billing:
        available, _ = await balance(billing, TOKENS, tenant)
        env = os.environ | backend.environment(
            V100_TRANSCRIPTION_BILLING_URL=billing,
            V100_TRANSCRIPTION_JOB_LEASE_SECONDS="4",
            V100_TRANSCRIPTION_MODEL_DIR=str(model_dir),
        )
        env.pop("V100_REDIS_URL", None)
        log = tmp_path / "app.log"
        first = V100Process("serve", "transcription", env=env, log=log)
        async with first, _client(first.url, tenant) as http:
            created = await http.post(
                "/v1/transcripts/files",
                content=audio.read_bytes(),
                params={"name": "standup.ogg"},
                headers={"Content-Type": "audio/ogg", "Idempotency-Key": uuid.uuid4().hex},
            )
            assert created.status_code == 202, created.text
            transcript_id = created.json()["id"]
            # The hold is taken once the audio is decoded, just before the model runs.
            for _ in range(1200):
                _, held = await balance(billing, TOKENS, tenant)
                if held:
                    break
                assert (await _transcript(http, transcript_id))["status"] not in SETTLED
                await asyncio.sleep(0.1)
            assert held == 1, first.log_tail()
            await asyncio.sleep(1.0)  # well into the decoding
            assert (await _transcript(http, transcript_id))["status"] == "processing"
            await first.kill()
        async with (
            V100Process("serve", "transcription", env=env, log=log, port=first.port) as second,
            _client(second.url, tenant) as http,
        ):
            for _ in range(1800):
                done = await _transcript(http, transcript_id)
                if done["status"] in SETTLED:
                    break
                await asyncio.sleep(0.2)
            assert done["status"] == "completed", (done, second.log_tail())
            assert word_error_rate(SAID, done["text"]) <= 0.15, done["text"]
            assert done["credits_charged"] == 1
            listed = (await http.get("/v1/transcripts")).json()["items"]
            assert [item["id"] for item in listed] == [transcript_id]
        assert await balance(billing, TOKENS, tenant) == (available - 1, 0)  # charged once
    database_url = backend.platform.database_url.replace("{service}", "transcription")
    assert await job_attempts(database_url, "transcription.transcribe") == 2
