"""media_processor's endpoints under ``/v1/media``: platform specs, inputs (streamed PUT), media
jobs, chunk assemblies and language detection; under ``/v1/captions``: caption files from a
transcript and burn-in jobs. Thin: parse, call the services, shape the answer."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError
from v100.kit.errors import BadRequest
from v100.kit.http import Authorized, SessionDep, requires
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.media import PLATFORM_SPECS, CaptionLimits, PlatformSpec
from v100.services.media_processor.deps import AssembliesDep, ServiceDep, WhisperDep
from v100.services.media_processor.models import Assembly, MediaInput, MediaJob
from v100.services.media_processor.schemas import (
    AssemblyCreate,
    AssemblyOut,
    BurnInCreate,
    CaptionLimitsIn,
    CaptionsCreate,
    DownloadOut,
    InputOut,
    JobCreate,
    JobError,
    JobOut,
    JobPage,
    LanguageCandidate,
    LanguageDetectionCreate,
    LanguageDetectionOut,
    PartOut,
    PlatformSpecOut,
    SpecList,
)
from v100.services.media_processor.service import (
    CAPTION_TYPES,
    Download,
    captions_file,
    platform_spec,
)

MediaRead = Annotated[Principal, Depends(Authorized("media:read"))]
MediaWrite = Annotated[Principal, Depends(Authorized("media:write"))]

__all__ = ["CAPTIONS_PREFIX", "PREFIX", "captions_router", "media_router"]

PREFIX = "/v1/media"
CAPTIONS_PREFIX = "/v1/captions"
media_router = APIRouter(prefix=PREFIX, tags=["media"])
captions_router = APIRouter(prefix=CAPTIONS_PREFIX, tags=["captions"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
_BINARY = {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                               "format": "binary"}}}}  # fmt: skip


def _spec_out(spec: PlatformSpec) -> PlatformSpecOut:
    fields = dataclasses.asdict(spec)
    return PlatformSpecOut(**fields, aspect=round(spec.aspect, 4))


def _input_out(row: MediaInput) -> InputOut:
    return InputOut(
        name=row.name, size=row.size, content_type=row.content_type, sha256=row.sha256,
        created_at=row.created_at, updated_at=row.updated_at,
    )  # fmt: skip


def _job_out(row: MediaJob, download: Download | None = None) -> JobOut:
    error = None
    if row.error is not None:
        error = JobError(type=f"/problems/{row.error}", detail=row.error_detail)
    return JobOut(
        id=row.id,
        operation=row.operation,
        input=row.input_name,
        # A burn-in's transcript is not repeated in every answer.
        params={k: v for k, v in row.params.items() if k != "transcript"},
        status=row.status,
        percent=row.percent,
        error=error,
        result=row.result,
        output=row.output_media,
        credits_charged=row.credits_charged,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        download=None
        if download is None
        else DownloadOut.model_validate(download, from_attributes=True),
    )


def _assembly_out(row: Assembly, received: list[int] | None = None) -> AssemblyOut:
    return AssemblyOut(
        id=row.id, name=row.name, status=row.status,
        parts=row.parts, total_size=row.total_size, sha256=row.sha256, received=received,
        size=row.size, error=row.error_detail, created_at=row.created_at,
        completed_at=row.completed_at, expires_at=row.expires_at,
    )  # fmt: skip


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


# -- platform specs ---------------------------------------------------------------------------


@media_router.get("/specs", response_model=SpecList, dependencies=[requires("media:read")])
async def list_specs() -> SpecList:
    """The output spec of every publishing platform."""
    return SpecList(items=[_spec_out(spec) for spec in PLATFORM_SPECS.values()])


@media_router.get(
    "/specs/{platform}", response_model=PlatformSpecOut, dependencies=[requires("media:read")]
)
async def get_spec(platform: Annotated[str, Path(max_length=64)]) -> PlatformSpecOut:
    """One platform's output spec."""
    return _spec_out(platform_spec(platform))


# -- inputs -----------------------------------------------------------------------------------


@media_router.put("/inputs/{name}", response_model=InputOut, openapi_extra={"requestBody": _BINARY})
async def put_input(
    name: Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][\w.\-]*$")],
    request: Request,
    principal: MediaWrite,
    service: ServiceDep,
) -> InputOut:
    """Stream a file in as the input ``name`` (replacing one of that name)."""
    row = await service.receive_input(
        principal.tenant_id,
        name,
        request.stream(),
        declared_length=_declared_length(request),
        content_type=request.headers.get("content-type"),
    )
    return _input_out(row)


@media_router.get("/inputs/{name}", response_model=InputOut)
async def get_input(
    name: Annotated[str, Path(max_length=200)],
    principal: MediaRead,
    service: ServiceDep,
    session: SessionDep,
) -> InputOut:
    """One input's size, type and sha256."""
    return _input_out(await service.get_input(session, principal.tenant_id, name))


# -- jobs -------------------------------------------------------------------------------------


@media_router.post("/jobs", status_code=202, response_model=JobOut)
async def create_job(
    body: Annotated[JobCreate, Body()],
    key: IdempotencyKey,
    principal: MediaWrite,
    service: ServiceDep,
    session: SessionDep,
) -> object:
    """Queue a media job (transcode, normalize_audio, resample_audio, extract_audio, thumbnail)."""
    queued = service.create_job(
        session, principal.tenant_id, operation=body.operation, input_name=body.input,
        params=body.model_dump(mode="json", exclude={"input", "operation"}),
    )  # fmt: skip
    return await idempotent(
        session, principal.tenant_id, key, "create_media_job", body, queued, _job_out, status=202
    )


@media_router.get("/jobs", response_model=JobPage)
async def list_jobs(
    principal: MediaRead,
    service: ServiceDep,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JobPage:
    """The tenant's media jobs, newest first."""
    try:
        page = await service.page(session, principal.tenant_id, limit=limit, cursor=cursor)
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None
    return JobPage(items=[_job_out(row) for row in page.items], next_cursor=page.next_cursor)


@media_router.get("/jobs/{job_id}", response_model=JobOut)
async def get_job(
    job_id: str, principal: MediaRead, service: ServiceDep, session: SessionDep
) -> JobOut:
    """One media job, with a presigned link to its output once succeeded."""
    row = await service.get_job(session, principal.tenant_id, job_id)
    return _job_out(row, await service.download(row))


# -- assemblies -------------------------------------------------------------------------------


@media_router.post("/assemblies", status_code=201, response_model=AssemblyOut)
async def create_assembly(
    body: AssemblyCreate,
    key: IdempotencyKey,
    principal: MediaWrite,
    assemblies: AssembliesDep,
    session: SessionDep,
) -> object:
    """Open a chunk assembly of ``parts`` parts (then PUT them, then complete it)."""
    opened = assemblies.create(
        session, principal.tenant_id, parts=body.parts, name=body.name,
        total_size=body.total_size, sha256=body.sha256, content_type=body.content_type,
    )  # fmt: skip
    return await idempotent(
        session, principal.tenant_id, key, "create_assembly", body,
        opened, lambda row: _assembly_out(row, received=[]), status=201,
    )  # fmt: skip


@media_router.get("/assemblies/{assembly_id}", response_model=AssemblyOut)
async def get_assembly(
    assembly_id: str, principal: MediaRead, assemblies: AssembliesDep, session: SessionDep
) -> AssemblyOut:
    """One assembly, with the part numbers received so far while open."""
    row = await assemblies.get(session, principal.tenant_id, assembly_id)
    return _assembly_out(row, await assemblies.received(session, row))


@media_router.put(
    "/assemblies/{assembly_id}/parts/{number}",
    response_model=PartOut,
    openapi_extra={"requestBody": _BINARY},
)
async def put_part(
    assembly_id: str,
    number: Annotated[int, Path(ge=1, le=10_000)],
    request: Request,
    principal: MediaWrite,
    assemblies: AssembliesDep,
) -> PartOut:
    """Upload part ``number`` (any order; sending it again replaces it)."""
    part = await assemblies.put_part(principal.tenant_id, assembly_id, number, await request.body())
    return PartOut(part_number=part.part_number, size=part.size, etag=part.etag)


@media_router.post("/assemblies/{assembly_id}/complete", response_model=AssemblyOut)
async def complete_assembly(
    assembly_id: str, principal: MediaWrite, assemblies: AssembliesDep
) -> AssemblyOut:
    """Join the parts into the input (409 listing missing parts; 422 on a size/sha256 mismatch)."""
    return _assembly_out(await assemblies.complete(principal.tenant_id, assembly_id))


# -- language detection -----------------------------------------------------------------------


@media_router.post("/language-detection", response_model=LanguageDetectionOut)
async def detect_language(
    body: LanguageDetectionCreate, principal: MediaRead, service: ServiceDep, whisper: WhisperDep
) -> LanguageDetectionOut:
    """The language of a text (py3langid) or of the speech in an audio or video input
    (Whisper's detector)."""
    found = await service.detect_language(
        principal.tenant_id, whisper, text=body.text, input_name=body.input
    )
    return LanguageDetectionOut(
        language=found.language,
        probability=found.probability,
        alternatives=[LanguageCandidate(language=c, probability=p) for c, p in found.alternatives],
        source=found.source,
        detector=found.detector,
        analysed_seconds=found.analysed_seconds,
    )


# -- captions ---------------------------------------------------------------------------------


def _limits(body: CaptionLimitsIn) -> CaptionLimits:
    return CaptionLimits(**body.model_dump())


_CAPTION_FILES = {
    "content": {
        "application/x-subrip": {"schema": {"type": "string"}},
        "text/vtt": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "object"}},
    }
}


@captions_router.post("", response_class=Response, responses={200: _CAPTION_FILES})
async def make_captions(body: CaptionsCreate, principal: MediaRead) -> Response:
    """Captions of a transcript as SRT, WebVTT or JSON cues."""
    text = captions_file(
        body.transcript, body.format, _limits(body.limits), speaker_labels=body.speaker_labels
    )
    media_type = CAPTION_TYPES[body.format]
    charset = "" if body.format == "json" else "; charset=utf-8"
    return Response(text, media_type=f"{media_type}{charset}")


@captions_router.post("/burn-in", status_code=202, response_model=JobOut)
async def burn_in(
    body: BurnInCreate,
    key: IdempotencyKey,
    principal: MediaWrite,
    service: ServiceDep,
    session: SessionDep,
) -> object:
    """Queue a media job that burns the transcript's captions into a video input (an MP4 out)."""
    queued = service.create_job(
        session, principal.tenant_id, operation="burn_captions", input_name=body.input,
        params=body.model_dump(mode="json", exclude={"input"}),
    )  # fmt: skip
    return await idempotent(
        session, principal.tenant_id, key, "burn_in_captions", body, queued, _job_out, status=202
    )
