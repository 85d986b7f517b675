"""One factory per resource type the public API names by a path id: it makes the resource as
tenant A (through the gateway where that is cheap, else as rows of the owning service, as its
work would leave them) and gives the path's parameters, and the bodies a request to that path
needs to reach its lookup. The cross-tenant matrix (test_cross_tenant.py) fails on any path with
an id that has no factory here: a new service adds its own when it adds the route.

``shared`` marks the platform's own catalogue (published plans, platform specs): every tenant
reads it, so another tenant's GET answering 200 is right; writes still fail."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import new_id, unit_of_work
from v100.services.billing.models import CheckoutSession
from v100.services.billing_engine.invoicing import run_invoicing
from v100.services.integration.crm.models import CrmConnection, CrmContact
from v100.services.integration.models import Endpoint, Message, StreamGroup
from v100.services.integration.signing import new_secret
from v100.services.integration.sms.models import SmsMessage
from v100.services.media_processor.models import MediaJob
from v100.services.rag_engine.models import Collection, Document, Reembedding
from v100.services.stream_proxy.models import MediaRoute
from v100.services.transcription.models import Transcript
from v100.services.video_analysis.models import Analysis, StageResult
from v100.services.video_processing.models import CaptionTrack, Clip, Highlight, Rendition, Video

from .support import Platform, Tenant


@dataclass
class Made:
    """A resource of tenant A: the path's parameters, and per method the body to send."""

    params: dict[str, str]
    bodies: dict[str, Any] = field(default_factory=dict)
    content: dict[str, bytes] = field(default_factory=dict)  # raw bodies (PUT of bytes)
    shared: bool = False
    # For a shared resource: what another tenant's GET may see (nothing of A's).
    check_shared: Callable[[Any], None] | None = None
    # Named within each tenant (a PUT by name creates the caller's own): B's writes succeed on
    # B's own, and whatever B is answered must pass this (nothing of A's).
    namespaced: Callable[[Any], None] | None = None


Factory = Callable[[Platform, Tenant], Awaitable[Made]]
FACTORIES: dict[str, Factory] = {}
# Paths whose every URL carries its own signed credential: no tenant credential is involved.
# The meeting room's routes take a participant's meeting token, not a tenant's credential;
# tests/services/meeting checks that a token reaches no other meeting (ADR 0051).
SIGNED = (
    "/v1/videos/playback/{token}/{path}",
    "/hls/{token}/{path}",
    "/hls/routes/{token}/{path}",
    *(
        f"/v1/meetings/{{meeting_id}}/room{tail}"
        for tail in (
            "", "/join", "/leave", "/token", "/waiting/{participant_id}/admit",
            "/waiting/{participant_id}/deny", "/waiting/admit-all", "/lock", "/unlock", "/end",
            "/participants/{participant_id}/mute", "/participants/{participant_id}/remove",
            "/participants/{participant_id}/move", "/breakouts", "/breakouts/assign",
            "/breakouts/broadcast", "/breakouts/close", "/recordings",
            "/recordings/{recording_id}/stop", "/recordings/{recording_id}", "/token",
        )
    ),
)  # fmt: skip


def factory(*paths: str) -> Callable[[Factory], Factory]:
    def register(make: Factory) -> Factory:
        for path in paths:
            assert path not in FACTORIES, path
            FACTORIES[path] = make
        return make

    return register


def _sessions(platform: Platform, service: str) -> async_sessionmaker[AsyncSession]:
    sessions = platform.apps[service].state.runtime.sessions
    assert sessions is not None
    return sessions


async def _created(platform: Platform, tenant: Tenant, path: str, body: Any) -> dict[str, Any]:
    answer = await platform.gateway.post(
        path, json=body, headers={**tenant.headers, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert answer.status_code in (200, 201, 202), f"{path}: {answer.text}"
    made: dict[str, Any] = answer.json()
    return made


# --- gateway ------------------------------------------------------------------------------


@factory("/v1/api-keys/{key_id}")
async def api_key(platform: Platform, tenant: Tenant) -> Made:
    key = await _created(platform, tenant, "/v1/api-keys", {"name": "a's", "scopes": ["*"]})
    return Made({"key_id": key["id"]})


@factory("/v1/tenants/current/members/{user_id}")
async def member(platform: Platform, tenant: Tenant) -> Made:
    body = {"email": f"m-{uuid.uuid4().hex[:8]}@example.com", "password": "x" * 16}
    user = await _created(platform, tenant, "/v1/tenants/current/members", body)
    return Made({"user_id": user["id"]}, bodies={"patch": {"role": "admin"}})


# --- billing ------------------------------------------------------------------------------


@factory(
    "/v1/credits/holds/{hold_id}",
    "/v1/credits/holds/{hold_id}/capture",
    "/v1/credits/holds/{hold_id}/release",
)
async def hold(platform: Platform, tenant: Tenant) -> Made:
    async with platform.direct("billing") as billing:
        answer = await billing.post(
            "/v1/credits/holds",
            json={"amount": 5, "reason": "matrix"},
            headers={
                **platform.service_headers("billing", tenant.id),
                "Idempotency-Key": uuid.uuid4().hex,
            },
        )
    assert answer.status_code == 201, answer.text
    return Made({"hold_id": answer.json()["id"]}, bodies={"post": {"amount": 1}})


@factory("/v1/checkout/sessions/{checkout_id}")
async def checkout_session(platform: Platform, tenant: Tenant) -> Made:
    # No Stripe here: the row a completed top-up leaves.
    async with unit_of_work(_sessions(platform, "billing")) as session:
        row = CheckoutSession(
            tenant_id=tenant.id, stripe_session_id=f"cs_test_{uuid.uuid4().hex}", pack="small",
            credits=100, amount_total=500, currency="usd", status="open",
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return Made({"checkout_id": row.id})


# --- billing_engine -----------------------------------------------------------------------

_CATALOGUE: dict[str, str] = {}


async def _catalogue(platform: Platform) -> dict[str, str]:
    """The operator's meter and plan, made once."""
    if not _CATALOGUE or _CATALOGUE.get("gateway") != platform.urls["gateway"]:
        _CATALOGUE.clear()
        meter = {"code": "matrix_calls", "aggregation": "count"}
        made = await platform.gateway.post(
            "/v1/usage/meters", json=meter, headers=platform.operator
        )
        assert made.status_code == 201, made.text
        plan = {"code": "matrix", "name": "Matrix", "interval": "monthly", "base_price": 900,
                "currency": "USD", "tier": "pro", "included": {"matrix_calls": "10"},
                "charges": [{"meter": "matrix_calls",
                             "rate_card": {"type": "per_unit", "unit_price": "3"}}]}  # fmt: skip
        made = await platform.gateway.post("/v1/plans", json=plan, headers=platform.operator)
        assert made.status_code == 201, made.text
        _CATALOGUE.update(gateway=platform.urls["gateway"], plan_id=made.json()["id"])
    return _CATALOGUE


@factory("/v1/plans/{plan_id}")
async def plan(platform: Platform, tenant: Tenant) -> Made:
    catalogue = await _catalogue(platform)
    return Made(
        {"plan_id": catalogue["plan_id"]}, bodies={"patch": {"status": "archived"}}, shared=True
    )


@factory("/v1/usage/meters/{code}/summary")
async def meter_summary(platform: Platform, tenant: Tenant) -> Made:
    # The meter is the operator's (every tenant reads its own usage of it); A's usage is not
    # B's: B's summary must count none of A's events.
    await _catalogue(platform)
    now = datetime.now(UTC)
    events = [{"id": f"a-{n}", "meter": "matrix_calls", "timestamp": now.isoformat()}
              for n in range(3)]  # fmt: skip
    async with platform.direct("billing_engine") as engine:
        answer = await engine.post(
            "/v1/usage/events",
            json={"events": events},
            headers=platform.service_headers("billing_engine", tenant.id),
        )
    assert answer.json()["accepted"] == 3, answer.text
    window = {"from": (now - timedelta(hours=1)).isoformat(),
              "to": (now + timedelta(hours=1)).isoformat()}  # fmt: skip

    def nothing_of_a(summary: Any) -> None:
        assert sum(group["event_count"] for group in summary["groups"]) == 0, summary

    return Made(
        {"code": "matrix_calls"}, bodies={"query": window}, shared=True, check_shared=nothing_of_a
    )


@factory(
    "/v1/invoices/{invoice_id}",
    "/v1/invoices/{invoice_id}.html",
    "/v1/invoices/{invoice_id}.pdf",
)
async def invoice(platform: Platform, tenant: Tenant) -> Made:
    await _catalogue(platform)
    start = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    grant = {"tenant_id": tenant.id, "plan": "matrix", "start": start}
    granted = await platform.gateway.post(
        "/v1/subscriptions/grants", json=grant, headers=platform.operator
    )
    assert granted.status_code == 200, granted.text
    await run_invoicing(_sessions(platform, "billing_engine"), datetime.now(UTC))
    listed = await platform.gateway.get("/v1/invoices", headers=tenant.headers)
    invoices = listed.json()["items"]
    assert invoices, listed.text
    return Made({"invoice_id": invoices[0]["id"]})


@factory("/v1/revenue-shares/{share_id}/statements")
async def revenue_share(platform: Platform, tenant: Tenant) -> Made:
    body = {"tenant_id": tenant.id, "partner": "Reseller", "basis": "percent", "percent": "10"}
    made = await platform.gateway.post("/v1/revenue-shares", json=body, headers=platform.operator)
    assert made.status_code == 201, made.text
    return Made({"share_id": made.json()["id"]})


# --- video_processing ---------------------------------------------------------------------


@factory("/v1/projects/{project_id}")
async def project(platform: Platform, tenant: Tenant) -> Made:
    made = await _created(platform, tenant, "/v1/projects", {"name": "A's project"})
    return Made({"project_id": made["id"]}, bodies={"patch": {"name": "taken"}})


async def _video(platform: Platform, tenant: Tenant) -> Video:
    # A processed video's row (processing it needs FFmpeg and minutes, not what is tested).
    async with unit_of_work(_sessions(platform, "video_processing")) as session:
        video = Video(tenant_id=tenant.id, title="A's video", status="ready", duration=10.0,
                      progress=100, ready_at=datetime.now(UTC))  # fmt: skip
        session.add(video)
        await session.flush()
        return video


@factory(
    "/v1/videos/{video_id}",
    "/v1/videos/{video_id}/highlights",
    "/v1/videos/{video_id}/captions",
)
async def video(platform: Platform, tenant: Tenant) -> Made:
    made = await _video(platform, tenant)
    return Made(
        {"video_id": made.id},
        bodies={"patch": {"title": "taken"}, "post": {"start": 1.0, "end": 2.0}},
    )


async def _stored(platform: Platform, key: str, data: bytes, content_type: str) -> None:
    storage = platform.apps["video_processing"].state.runtime.storage
    await storage.put(key, data, content_type)


@factory("/v1/videos/{video_id}/audio", "/v1/videos/{video_id}/audio/content")
async def video_audio(platform: Platform, tenant: Tenant) -> Made:
    # Read by platform services only (service:videos): A's own service call still reads it.
    made = await _video(platform, tenant)
    key = f"videos/{made.id}/audio.m4a"
    await _stored(platform, key, b"A's audio", "audio/mp4")
    async with unit_of_work(_sessions(platform, "video_processing")) as session:
        session.add(Rendition(tenant_id=tenant.id, video_id=made.id, kind="m4a", name="m4a",
                              key=key, content_type="audio/mp4", size=9))  # fmt: skip
    return Made({"video_id": made.id})


@factory("/v1/videos/{video_id}/picture", "/v1/videos/{video_id}/picture/content")
async def video_picture(platform: Platform, tenant: Tenant) -> Made:
    # Read by platform services only (service:videos): A's own service call still reads it.
    made = await _video(platform, tenant)
    key = f"videos/{made.id}/video.mp4"
    await _stored(platform, key, b"A's video", "video/mp4")
    async with unit_of_work(_sessions(platform, "video_processing")) as session:
        session.add(Rendition(tenant_id=tenant.id, video_id=made.id, kind="mp4", name="mp4",
                              key=key, content_type="video/mp4", size=9))  # fmt: skip
    return Made({"video_id": made.id})


@factory("/v1/videos/{video_id}/hls")
async def video_hls(platform: Platform, tenant: Tenant) -> Made:
    # Read by platform services only (service:videos): A's own service call still reads it.
    made = await _video(platform, tenant)
    key = f"videos/{made.id}/hls/master.m3u8"
    await _stored(platform, key, b"#EXTM3U\n", "application/vnd.apple.mpegurl")
    async with unit_of_work(_sessions(platform, "video_processing")) as session:
        session.add(Rendition(tenant_id=tenant.id, video_id=made.id, kind="hls", name="master",
                              key=key, content_type="application/vnd.apple.mpegurl", size=8,
                              extra={"rungs": []}))  # fmt: skip
    return Made({"video_id": made.id})


@factory("/v1/videos/{video_id}/captions/{language}")
async def caption_track_attach(platform: Platform, tenant: Tenant) -> Made:
    made = await _video(platform, tenant)
    document = {"duration": 10.0, "text": "B's words", "segments": []}
    return Made(
        {"video_id": made.id, "language": "en"},
        bodies={"put": {"transcript_id": "b-transcript", "document": document}},
    )


@factory("/v1/videos/{video_id}/captions/{language}.{extension}")
async def caption_track(platform: Platform, tenant: Tenant) -> Made:
    made = await _video(platform, tenant)
    vtt, srt = f"videos/{made.id}/hls/subtitles/en.vtt", f"videos/{made.id}/captions/en.srt"
    await _stored(platform, vtt, b"WEBVTT\n", "text/vtt")
    await _stored(platform, srt, b"", "application/x-subrip")
    async with unit_of_work(_sessions(platform, "video_processing")) as session:
        track = CaptionTrack(tenant_id=tenant.id, video_id=made.id, language="en",
                             name="en (generated)", cues=0, vtt_key=vtt, srt_key=srt)  # fmt: skip
        session.add(track)
    return Made({"video_id": made.id, "language": "en", "extension": "vtt"})


@factory("/v1/videos/{video_id}/highlights/{highlight_id}")
async def highlight(platform: Platform, tenant: Tenant) -> Made:
    made = await _video(platform, tenant)
    async with unit_of_work(_sessions(platform, "video_processing")) as session:
        row = Highlight(tenant_id=tenant.id, video_id=made.id, start=1.0, end=3.0, title="A's")
        session.add(row)
        await session.flush()
        return Made(
            {"video_id": made.id, "highlight_id": row.id}, bodies={"patch": {"title": "taken"}}
        )


@factory("/v1/clips/{clip_id}")
async def clip(platform: Platform, tenant: Tenant) -> Made:
    made = await _video(platform, tenant)
    async with unit_of_work(_sessions(platform, "video_processing")) as session:
        row = Clip(tenant_id=tenant.id, video_id=made.id, start=1.0, end=3.0, status="errored")
        session.add(row)
        await session.flush()
        return Made({"clip_id": row.id})


@factory("/v1/uploads/{upload_id}", "/v1/uploads/{upload_id}/cancel")
async def direct_upload(platform: Platform, tenant: Tenant) -> Made:
    made = await _created(platform, tenant, "/v1/uploads", {})
    return Made({"upload_id": made["id"]})


# --- media_processor ----------------------------------------------------------------------


@factory("/v1/media/specs/{platform}")
async def platform_spec(platform: Platform, tenant: Tenant) -> Made:
    return Made({"platform": "youtube"}, shared=True)


@factory("/v1/media/inputs/{name}")
async def media_input(platform: Platform, tenant: Tenant) -> Made:
    name = f"a-input-{uuid.uuid4().hex[:8]}"
    answer = await platform.gateway.put(
        f"/v1/media/inputs/{name}",
        content=b"A's bytes",
        headers={**tenant.headers, "Content-Type": "application/octet-stream"},
    )
    assert answer.status_code in (200, 201), answer.text
    a_digest = answer.json()["sha256"]

    def not_a_s(found: Any) -> None:
        assert found["sha256"] != a_digest, found

    return Made({"name": name}, content={"put": b"B's bytes"}, namespaced=not_a_s)


@factory("/v1/media/jobs/{job_id}")
async def media_job(platform: Platform, tenant: Tenant) -> Made:
    async with unit_of_work(_sessions(platform, "media_processor")) as session:
        row = MediaJob(tenant_id=tenant.id, operation="thumbnail", params={}, input_name="x",
                       input_key=f"tenants/{tenant.id}/inputs/x", status="failed")  # fmt: skip
        session.add(row)
        await session.flush()
        return Made({"job_id": row.id})


@factory(
    "/v1/media/assemblies/{assembly_id}",
    "/v1/media/assemblies/{assembly_id}/parts/{number}",
    "/v1/media/assemblies/{assembly_id}/complete",
)
async def assembly(platform: Platform, tenant: Tenant) -> Made:
    made = await _created(platform, tenant, "/v1/media/assemblies", {"parts": 2})
    return Made({"assembly_id": made["id"], "number": "1"}, content={"put": b"part one"})


# --- stream_proxy ----------------------------------------------------------------------------


@factory("/v1/streams/routes/{route_id}", "/v1/streams/routes/{route_id}/playback")
async def media_route(platform: Platform, tenant: Tenant) -> Made:
    # A row as the API leaves it, with a backend on loopback's discard port (the nets allow
    # loopback backends only: no health check or proxied request leaves the machine).
    async with unit_of_work(_sessions(platform, "stream_proxy")) as session:
        route = MediaRoute(tenant_id=tenant.id, name="A's avatars", kind="avatar-session",
                           backends=[{"url": "http://127.0.0.1:9", "weight": 1}],
                           health_path="/health", health_interval_seconds=60.0)  # fmt: skip
        session.add(route)
        await session.flush()
        return Made({"route_id": route.id}, bodies={"patch": {"name": "taken"}, "post": {}})


# --- meeting ---------------------------------------------------------------------------------


@factory(
    "/v1/meetings/{meeting_id}",
    "/v1/meetings/{meeting_id}/end",
    "/v1/meetings/{meeting_id}/tokens",
    "/v1/meetings/{meeting_id}/participants",
    "/v1/meetings/{meeting_id}/recordings",
)
async def meeting(platform: Platform, tenant: Tenant) -> Made:
    made = await _created(platform, tenant, "/v1/meetings", {"title": "A's sync"})
    return Made(
        {"meeting_id": made["id"]},
        bodies={"patch": {"title": "B was here"}, "post": {"name": "B"}},
    )


@factory("/v1/meetings/{meeting_id}/participants/{participant_id}/standing")
async def participant_standing(platform: Platform, tenant: Tenant) -> Made:
    # Asked by platform services only (service:meetings): A's participant of A's meeting.
    made = await _created(platform, tenant, "/v1/meetings", {"title": "A's sync"})
    path = f"/v1/meetings/{made['id']}/tokens"
    minted = await _created(platform, tenant, path, {"name": "Ada"})
    return Made({"meeting_id": made["id"], "participant_id": minted["participant_id"]})


# --- recording_processor ------------------------------------------------------------------


@factory(
    "/v1/recordings/{recording_id}",
    "/v1/recordings/{recording_id}/content",
    "/v1/recordings/{recording_id}/media",
    "/v1/recordings/{recording_id}/media/end-upload",
)
async def recording(platform: Platform, tenant: Tenant) -> Made:
    made = await _created(platform, tenant, "/v1/recordings", {"title": "A's standup"})
    return Made({"recording_id": made["id"]}, content={"put": b"\x1a\x45\xdf\xa3"})


# --- transcription ------------------------------------------------------------------------


@factory("/v1/transcripts/{transcript_id}", "/v1/transcripts/{transcript_id}/finished")
async def transcript(platform: Platform, tenant: Tenant) -> Made:
    # A row as a finished job leaves it: no job runs a model during the run.
    async with unit_of_work(_sessions(platform, "transcription")) as session:
        row = Transcript(tenant_id=tenant.id, status="completed", source_kind="upload",
                         backend="local", duration=1.0, document={"duration": 1.0})  # fmt: skip
        session.add(row)
        await session.flush()
        return Made({"transcript_id": row.id})


@factory("/v1/transcripts/videos/{video_id}")
async def video_transcript(platform: Platform, tenant: Tenant) -> Made:
    # Asked by platform services only (service:transcripts): A's video has a finished one.
    async with unit_of_work(_sessions(platform, "transcription")) as session:
        row = Transcript(tenant_id=tenant.id, status="completed", source_kind="video",
                         source_video_id=new_id(), backend="local", duration=1.0,
                         document={"duration": 1.0})  # fmt: skip
        session.add(row)
        await session.flush()
        assert row.source_video_id is not None
        return Made({"video_id": row.source_video_id})


# --- video_analysis -----------------------------------------------------------------------


@factory(
    "/v1/analyses/{analysis_id}",
    "/v1/analyses/{analysis_id}/scenes",
    "/v1/analyses/{analysis_id}/keyframes",
    "/v1/analyses/{analysis_id}/faces",
    "/v1/analyses/{analysis_id}/speech",
    "/v1/analyses/{analysis_id}/signals",
    "/v1/analyses/{analysis_id}/transcript",
    "/v1/analyses/{analysis_id}/highlights",
    "/v1/analyses/{analysis_id}/clips",
    "/v1/analyses/{analysis_id}/clips/{clip_id}",
)
async def analysis(platform: Platform, tenant: Tenant) -> Made:
    # A row and results as a finished job leaves them (no analysis runs during the run).
    results: dict[str, Any] = {
        "scenes": {"threshold": 5.0, "frame_rate": 25.0, "frame_count": 25, "boundaries": [],
                   "scenes": [{"index": 0, "start_frame": 0, "end_frame": 25, "start": 0.0,
                               "end": 1.0}]},
        "keyframes": {"items": []},
        "faces": {"sample_rate": 2.0, "tracks": []},
        "speech": {"segments": [], "speech_seconds": 0.0, "speech_ratio": 0.0},
        "signals": {"interval": 0.5, "loudness": [], "energy": [], "motion": [0.0, 0.0]},
        "transcript": {"transcript_id": "t", "language": "en", "text": "A's words",
                       "document": {"duration": 1.0}},
        "highlights": {"durations": [15.0, 60.0], "keywords": [], "count": 5,
                       "transcript": True, "items": [],
                       "refinement": {"status": "local", "model": None, "notes": []}},
    }  # fmt: skip
    progress = {stage: {"status": "completed", "percent": 100} for stage in results}
    video = await _video(platform, tenant)
    async with unit_of_work(_sessions(platform, "video_analysis")) as session:
        row = Analysis(tenant_id=tenant.id, video_id=video.id, status="completed",
                       stages=list(results), progress=progress, percent=100)  # fmt: skip
        session.add(row)
        await session.flush()
        for stage, data in results.items():
            session.add(StageResult(tenant_id=tenant.id, analysis_id=row.id, stage=stage,
                                    data=data))  # fmt: skip
        analysis_id = row.id
    # Its clips are video_processing's (ADR 0060): one as a failed render leaves it.
    async with unit_of_work(_sessions(platform, "video_processing")) as session:
        clip = Clip(tenant_id=tenant.id, video_id=video.id, analysis_id=analysis_id,
                    start=0.0, end=1.0, mode="smart", aspect="9:16", platform="tiktok",
                    captions=True, status="errored", progress=0,
                    error_type="processing-failed")  # fmt: skip
        session.add(clip)
        await session.flush()
        return Made({"analysis_id": analysis_id, "clip_id": clip.id},
                    bodies={"post": {"count": 1}})  # fmt: skip


@factory("/v1/videos/{video_id}/analysis-clips")
async def analysis_clips(platform: Platform, tenant: Tenant) -> Made:
    # Called by video_analysis only (service:videos): B's call about A's video is 404.
    made = await _video(platform, tenant)
    crop = {
        "width": 640,
        "height": 360,
        "aspect": [9, 16],
        "start": 1.0,
        "end": 2.0,
        "shots": [{"start": 1.0, "end": 2.0, "layout": "fit", "tracks": [], "pans": []}],
    }
    item = {"highlight_id": "h", "start": 1.0, "end": 2.0, "crop": crop}
    return Made({"video_id": made.id},
                bodies={"post": {"analysis_id": "a", "items": [item]}})  # fmt: skip


# --- rag_engine ---------------------------------------------------------------------------


@factory("/v1/documents/{document_id}")
async def document(platform: Platform, tenant: Tenant) -> Made:
    # Rows as a failed ingestion leaves them: no job embeds anything during the run.
    async with unit_of_work(_sessions(platform, "rag_engine")) as session:
        collection = Collection(tenant_id=tenant.id, knowledge_base_id="a-kb",
                                embedding_model="minilm-l6-v2-int8", dimension=384)  # fmt: skip
        session.add(collection)
        await session.flush()
        row = Document(
            tenant_id=tenant.id, collection_id=collection.id, knowledge_base_id="a-kb",
            format="text", source_kind="content", source_size=1, content_hash="0" * 64,
            attributes={}, status="failed", revision=1, revised_at=datetime.now(UTC),
            error="document-empty",
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return Made({"document_id": row.id})


@factory("/v1/reembeddings/{reembedding_id}")
async def reembedding(platform: Platform, tenant: Tenant) -> Made:
    # Read by platform services only (service:rag): a failed one's row, no job runs.
    async with unit_of_work(_sessions(platform, "rag_engine")) as session:
        row = Reembedding(
            tenant_id=tenant.id, collection_id=new_id(), knowledge_base_id="a-kb",
            from_model="minilm-l6-v2-int8", to_model="openai/text-embedding-3-small",
            dimension=1536, space_id=new_id(), status="failed", embedded_count=0,
            error="embedding-refused",
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return Made({"reembedding_id": row.id})


@factory("/v1/transcription-sessions/{session_id}", "/v1/transcription-sessions/{session_id}/stop")
async def transcription_session(platform: Platform, tenant: Tenant) -> Made:
    # Made, never connected: its WebSocket (not in the OpenAPI) is covered by the service's
    # own tenancy test.
    made = await _created(platform, tenant, "/v1/transcription-sessions", {})
    return Made({"session_id": made["id"]})


# --- integration --------------------------------------------------------------------------


async def _webhook_endpoint(platform: Platform, tenant: Tenant) -> str:
    # A row, disabled, so that none of A's events is ever sent to it during the run.
    async with unit_of_work(_sessions(platform, "integration")) as session:
        row = Endpoint(
            tenant_id=tenant.id, url="http://127.0.0.1:9/a", description="a's", event_types=[],
            enabled=False, disabled_reason="manual", headers={}, ordered=False,
            secret=new_secret(),
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return row.id


_SINCE = {"since": "2026-01-01T00:00:00Z"}


@factory(
    "/v1/webhooks/endpoints/{endpoint_id}",
    "/v1/webhooks/endpoints/{endpoint_id}/secret",
    "/v1/webhooks/endpoints/{endpoint_id}/attempts",
)
async def webhook_endpoint(platform: Platform, tenant: Tenant) -> Made:
    made = await _webhook_endpoint(platform, tenant)
    return Made({"endpoint_id": made}, bodies={"patch": {"description": "b's"}})


@factory(
    "/v1/webhooks/endpoints/{endpoint_id}/replay", "/v1/webhooks/endpoints/{endpoint_id}/recover"
)
async def webhook_endpoint_range(platform: Platform, tenant: Tenant) -> Made:
    made = await _webhook_endpoint(platform, tenant)
    return Made({"endpoint_id": made}, bodies={"post": _SINCE})


@factory(
    "/v1/webhooks/endpoints/{endpoint_id}/test",
    "/v1/webhooks/endpoints/{endpoint_id}/secret/rotate",
)
async def webhook_endpoint_action(platform: Platform, tenant: Tenant) -> Made:
    made = await _webhook_endpoint(platform, tenant)
    return Made({"endpoint_id": made}, bodies={"post": {}})


@factory(
    "/v1/webhooks/messages/{message_id}",
    "/v1/webhooks/messages/{message_id}/attempts",
    "/v1/webhooks/messages/{message_id}/replay",
)
async def webhook_message(platform: Platform, tenant: Tenant) -> Made:
    now = datetime.now(UTC)
    async with unit_of_work(_sessions(platform, "integration")) as session:
        row = Message(
            tenant_id=tenant.id, event_id=new_id(), event_type="video.ready", source="matrix",
            resource_key="video:a", occurred_at=now, created_at=now,
            payload='{"type":"video.ready","timestamp":"2026-01-01T00:00:00Z","data":{}}',
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return Made({"message_id": row.id})


async def _stream_group(platform: Platform, tenant: Tenant) -> str:
    async with unit_of_work(_sessions(platform, "integration")) as session:
        row = StreamGroup(
            tenant_id=tenant.id, name=f"a-{uuid.uuid4().hex[:8]}", event_types=[],
            position=None, created_at=datetime.now(UTC),
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return row.id


@factory("/v1/events-stream/groups/{group_id}", "/v1/events-stream/groups/{group_id}/read")
async def stream_group(platform: Platform, tenant: Tenant) -> Made:
    return Made({"group_id": await _stream_group(platform, tenant)}, bodies={"post": {}})


@factory("/v1/events-stream/groups/{group_id}/ack")
async def stream_group_ack(platform: Platform, tenant: Tenant) -> Made:
    made = await _stream_group(platform, tenant)
    return Made({"group_id": made}, bodies={"post": {"ids": [str(uuid.uuid4())]}})


async def _crm_connection(platform: Platform, tenant: Tenant) -> str:
    # A row with its sync paused, so the loop never calls a vendor for it during the run.
    async with unit_of_work(_sessions(platform, "integration")) as session:
        row = CrmConnection(
            tenant_id=tenant.id, vendor="hubspot", account_id=f"a-{uuid.uuid4().hex[:8]}",
            status="active", access_token="v1.none.none", refresh_token=None,
            activity_event_types=[], sync_enabled=False, sync_status="idle",
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return row.id


@factory(
    "/v1/crm/connections/{connection_id}",
    "/v1/crm/connections/{connection_id}/sync",
    "/v1/crm/connections/{connection_id}/sync-log",
    "/v1/crm/connections/{connection_id}/activities",
)
async def crm_connection(platform: Platform, tenant: Tenant) -> Made:
    made = await _crm_connection(platform, tenant)
    return Made({"connection_id": made}, bodies={"patch": {"sync_enabled": False}, "post": {}})


@factory("/v1/crm/connections/{connection_id}/contacts")
async def crm_connection_contacts(platform: Platform, tenant: Tenant) -> Made:
    made = await _crm_connection(platform, tenant)
    return Made({"connection_id": made}, bodies={"post": {"email": "b@example.com"}})


@factory("/v1/crm/contacts/{contact_id}")
async def crm_contact(platform: Platform, tenant: Tenant) -> Made:
    connection_id = await _crm_connection(platform, tenant)
    async with unit_of_work(_sessions(platform, "integration")) as session:
        row = CrmContact(
            tenant_id=tenant.id, connection_id=connection_id, remote_id=None,
            email="a@example.com", first_name="A", pending_push=False,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return Made({"contact_id": row.id}, bodies={"patch": {"first_name": "b"}})


# --- integration's SMS ------------------------------------------------------------------------


@factory("/v1/sms/senders/{sender_id}")
async def sms_sender(platform: Platform, tenant: Tenant) -> Made:
    # A number no other run registered: numbers are unique across tenants.
    number = "+1415" + str(uuid.uuid4().int)[:7]
    made = await _created(platform, tenant, "/v1/sms/senders", {"phone_number": number})
    return Made({"sender_id": made["id"]}, bodies={"patch": {"description": "b's"}})


@factory("/v1/sms/messages/{message_id}", "/v1/sms/messages/{message_id}/cancel")
async def sms_message(platform: Platform, tenant: Tenant) -> Made:
    # A row (the nets run without a Twilio account), scheduled a year out: never sent.
    later = datetime.now(UTC) + timedelta(days=365)
    async with unit_of_work(_sessions(platform, "integration")) as session:
        row = SmsMessage(
            tenant_id=tenant.id, from_number="+14155550199", to="+14155550100", body="a's",
            status="scheduled", send_at=later, next_attempt_at=later, attempts=0,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return Made({"message_id": row.id}, bodies={"post": {}})


# --- ai_orchestration -------------------------------------------------------------------------


async def _knowledge_base(platform: Platform, tenant: Tenant) -> str:
    made = await _created(platform, tenant, "/v1/knowledge-bases", {"name": "a's knowledge"})
    return str(made["id"])


async def _kb_document(platform: Platform, tenant: Tenant, kb_id: str) -> str:
    # Rows of rag_engine in the knowledge base's collection, as a failed ingestion leaves them.
    async with unit_of_work(_sessions(platform, "rag_engine")) as session:
        collection = (
            await session.execute(
                select(Collection).where(
                    Collection.tenant_id == tenant.id, Collection.knowledge_base_id == kb_id
                )
            )
        ).scalar_one()
        row = Document(
            tenant_id=tenant.id, collection_id=collection.id, knowledge_base_id=kb_id,
            format="text", source_kind="content", source_size=1, content_hash="1" * 64,
            attributes={}, status="failed", revision=1, revised_at=datetime.now(UTC),
            error="document-empty",
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return row.id


@factory("/v1/knowledge-bases/{kb_id}", "/v1/knowledge-bases/{kb_id}/documents")
async def knowledge_base(platform: Platform, tenant: Tenant) -> Made:
    return Made(
        {"kb_id": await _knowledge_base(platform, tenant)},
        bodies={"patch": {"name": "b's"}, "post": {"content": "b's words"}},
    )


@factory("/v1/knowledge-bases/{kb_id}/documents/{document_id}")
async def knowledge_base_document(platform: Platform, tenant: Tenant) -> Made:
    kb_id = await _knowledge_base(platform, tenant)
    return Made({"kb_id": kb_id, "document_id": await _kb_document(platform, tenant, kb_id)})


@factory("/v1/documents/collections/{knowledge_base_id}")
async def knowledge_base_collection(platform: Platform, tenant: Tenant) -> Made:
    # Platform services only (service:rag), named within each tenant: B's PUT makes B's own
    # (empty) collection under the same id, B's DELETE drops B's own.
    kb_id = await _knowledge_base(platform, tenant)
    await _kb_document(platform, tenant, kb_id)

    def nothing_of_a(body: Any) -> None:
        assert body["documents"] == 0, body

    return Made({"knowledge_base_id": kb_id}, bodies={"put": {}}, namespaced=nothing_of_a)


@factory("/v1/agents/providers/{provider}")
async def provider_key(platform: Platform, tenant: Tenant) -> Made:
    # Named within each tenant: B's PUT sets B's own key, B's DELETE removes it.
    answer = await platform.gateway.put(
        "/v1/agents/providers/openai", json={"api_key": "sk-a-secret-aaaa"}, headers=tenant.headers
    )
    assert answer.status_code == 200, answer.text

    def nothing_of_a(body: Any) -> None:
        assert body.get("key_hint") != "…aaaa", body

    return Made(
        {"provider": "openai"},
        bodies={"put": {"api_key": "sk-b-secret-bbbb"}},
        namespaced=nothing_of_a,
    )


async def _agent(platform: Platform, tenant: Tenant) -> str:
    made = await _created(platform, tenant, "/v1/agents", {"name": "a's agent"})
    return str(made["id"])


@factory("/v1/agents/{agent_id}", "/v1/agents/{agent_id}/versions")
async def agent(platform: Platform, tenant: Tenant) -> Made:
    return Made({"agent_id": await _agent(platform, tenant)}, bodies={"patch": {"name": "b's"}})


@factory("/v1/agents/{agent_id}/versions/{version}")
async def agent_version(platform: Platform, tenant: Tenant) -> Made:
    return Made({"agent_id": await _agent(platform, tenant), "version": "1"})


@factory("/v1/agents/{agent_id}/conversations")
async def agent_conversations(platform: Platform, tenant: Tenant) -> Made:
    return Made({"agent_id": await _agent(platform, tenant)}, bodies={"post": {}})


@factory(
    "/v1/agents/{agent_id}/conversations/{conversation_id}",
    "/v1/agents/{agent_id}/conversations/{conversation_id}/messages",
)
async def conversation(platform: Platform, tenant: Tenant) -> Made:
    agent_id = await _agent(platform, tenant)
    made = await _created(platform, tenant, f"/v1/agents/{agent_id}/conversations", {})
    return Made(
        {"agent_id": agent_id, "conversation_id": made["id"]},
        bodies={"post": {"content": "b's message"}},
    )


_CASES = [{"prompt": "a's question", "expected_facts": ["a's fact"]}]


async def _test_set(platform: Platform, tenant: Tenant) -> str:
    made = await _created(
        platform, tenant, "/v1/agents/test-sets", {"name": "a's", "cases": _CASES}
    )
    return str(made["id"])


@factory("/v1/agents/test-sets/{test_set_id}")
async def sandbox_set(platform: Platform, tenant: Tenant) -> Made:
    return Made({"test_set_id": await _test_set(platform, tenant)})


@factory("/v1/agents/{agent_id}/test-runs")
async def agent_sandbox_runs(platform: Platform, tenant: Tenant) -> Made:
    # B's attempt names A's set: refused at the agent (A's), before the set is looked up.
    set_id = await _test_set(platform, tenant)
    return Made(
        {"agent_id": await _agent(platform, tenant)}, bodies={"post": {"test_set_id": set_id}}
    )


async def _test_run(platform: Platform, tenant: Tenant) -> tuple[str, str]:
    # The nets' platform has no LLM key: the run answers each case that none is configured.
    agent_id = await _agent(platform, tenant)
    set_id = await _test_set(platform, tenant)
    made = await _created(
        platform, tenant, f"/v1/agents/{agent_id}/test-runs", {"test_set_id": set_id}
    )
    return agent_id, str(made["id"])


@factory("/v1/agents/{agent_id}/test-runs/{run_id}")
async def sandbox_run(platform: Platform, tenant: Tenant) -> Made:
    agent_id, run_id = await _test_run(platform, tenant)
    return Made({"agent_id": agent_id, "run_id": run_id})


@factory("/v1/agents/{agent_id}/test-runs/{run_id}/compare/{other_run_id}")
async def sandbox_comparison(platform: Platform, tenant: Tenant) -> Made:
    agent_id, run_id = await _test_run(platform, tenant)
    return Made({"agent_id": agent_id, "run_id": run_id, "other_run_id": run_id})
