"""Chunk assembly: parts uploaded in any order (and re-sent at will) become the parts of one
multipart upload in the object store; completing it joins them there (on local disk with
``os.copy_file_range``, zero copy; on S3 by CompleteMultipartUpload, no bytes through us),
checks the declared size and sha256, and registers the result as an input. A part sent again
goes to a fresh store part number (models.AssemblyPart), so no store ever joins stale bytes. An
assembly not completed within its time to live expires: ``expire_due`` (the periodic sweep)
aborts its multipart upload, dropping every stored part, and its PUTs and completion answer 410."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import new_id, unit_of_work, utcnow
from v100.kit.storage import MAX_PARTS, MIN_PART_SIZE, ObjectStore, UploadedPart, UploadNotFound
from v100.services.media_processor.errors import (
    AssemblyExpired,
    AssemblyMismatch,
    AssemblyNotFound,
    AssemblyNotOpen,
    EmptyInput,
    PartInFlight,
    PartOutOfRange,
    PartsMissing,
    PartTooSmall,
)
from v100.services.media_processor.models import Assembly, AssemblyPart, AssemblyStatus
from v100.services.media_processor.repository import AssemblyRepository
from v100.services.media_processor.service import register_input

__all__ = ["AssemblyService"]

# Hashing runs off the event loop for reads at least this large.
_HASH_OFF_LOOP = 256 * 1024


class AssemblyService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        storage: ObjectStore,
        *,
        ttl_seconds: int = 24 * 3600,
    ) -> None:
        self.sessions = sessions
        self.storage = storage
        self.ttl = timedelta(seconds=ttl_seconds)

    async def create(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        parts: int,
        name: str | None,
        total_size: int | None,
        sha256: str | None,
        content_type: str | None,
    ) -> Assembly:
        assembly_id = new_id()
        key = f"media/{tenant_id}/assemblies/{assembly_id}"
        upload_id = await self.storage.create_multipart(key, content_type)
        return await AssemblyRepository(session).add(
            Assembly(
                id=assembly_id, tenant_id=tenant_id, name=name or f"assembly-{assembly_id}",
                status=AssemblyStatus.OPEN, parts=parts, total_size=total_size, sha256=sha256,
                content_type=content_type, key=key, upload_id=upload_id,
                expires_at=utcnow() + self.ttl,
            )
        )  # fmt: skip

    async def get(self, session: AsyncSession, tenant_id: str, assembly_id: str) -> Assembly:
        row = await AssemblyRepository(session).get(tenant_id, assembly_id)
        if row is None:
            raise AssemblyNotFound(f"Assembly {assembly_id} does not exist.")
        return row

    async def received(self, session: AsyncSession, assembly: Assembly) -> list[int] | None:
        """The part numbers stored so far, while the assembly is open."""
        if assembly.status != AssemblyStatus.OPEN:
            return None
        parts = await AssemblyRepository(session).parts(assembly.id)
        return [part.number for part in parts if part.etag is not None]

    async def put_part(
        self, tenant_id: str, assembly_id: str, number: int, data: bytes
    ) -> UploadedPart:
        """Store part ``number`` (replacing one sent before)."""
        async with unit_of_work(self.sessions) as session:
            assembly = await self.get(session, tenant_id, assembly_id)
        _check_open(assembly)
        if not 1 <= number <= assembly.parts:
            raise PartOutOfRange(f"Assembly {assembly_id} has parts 1 to {assembly.parts}.")
        if not data:
            raise EmptyInput(f"Part {number} has no content.")
        if number < assembly.parts and len(data) < MIN_PART_SIZE:
            raise PartTooSmall(
                f"Part {number} is {len(data)} bytes; every part before the last takes at "
                f"least {MIN_PART_SIZE} bytes (5 MiB)."
            )
        store_number = await self._next_store_number(assembly, number)
        try:
            etag = await self.storage.upload_part(
                assembly.key, assembly.upload_id, store_number, data
            )
        except UploadNotFound:
            # Completed, or expired by the sweep, while this part was on its way.
            async with unit_of_work(self.sessions) as session:
                _check_open(await self.get(session, tenant_id, assembly_id))
            raise AssemblyNotOpen(f"Assembly {assembly_id} takes no more parts.") from None
        async with unit_of_work(self.sessions) as session:
            # False when a later send of this part took over: the later bytes win.
            await AssemblyRepository(session).part_stored(
                assembly.id, number, store_number, etag=etag, size=len(data)
            )
        return UploadedPart(number, etag, len(data))

    async def _next_store_number(self, assembly: Assembly, number: int) -> int:
        """The store part number this send of part ``number`` goes to: the next one of the
        part's slot range (wrapping round), so no send overwrites the part it replaces."""
        slots = max(1, MAX_PARTS // assembly.parts)
        first = (number - 1) * slots + 1
        try:
            async with unit_of_work(self.sessions) as session:
                row = await AssemblyRepository(session).part(assembly.id, number)
                if row is None:
                    session.add(
                        AssemblyPart(
                            id=new_id(), assembly_id=assembly.id, number=number,
                            store_number=first,
                        )
                    )  # fmt: skip
                    return first
                following = row.store_number + 1
                row.store_number = following if following < first + slots else first
                row.etag, row.size = None, None
                return row.store_number
        except IntegrityError:
            raise PartInFlight(
                f"Part {number} is being sent by another request; send it again."
            ) from None

    async def complete(self, tenant_id: str, assembly_id: str) -> Assembly:
        """Join the parts into the input. Completing a completed assembly answers it again."""
        async with unit_of_work(self.sessions) as session:
            assembly = await self.get(session, tenant_id, assembly_id)
        if assembly.status == AssemblyStatus.COMPLETED:
            return assembly
        _check_open(assembly)
        async with unit_of_work(self.sessions) as session:
            parts = await AssemblyRepository(session).parts(assembly.id)
        stored_parts = {part.number: part for part in parts if part.etag is not None}
        missing = [n for n in range(1, assembly.parts + 1) if n not in stored_parts]
        if missing:
            shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
            raise PartsMissing(f"Parts not uploaded: {shown}.", extra={"missing": missing})
        chosen = [
            UploadedPart(part.store_number, part.etag)
            for part in sorted(stored_parts.values(), key=_number)
            if part.etag is not None
        ]
        try:
            stored = await self.storage.complete_multipart(assembly.key, assembly.upload_id, chosen)
        except UploadNotFound:
            return await self._settled_meanwhile(tenant_id, assembly_id)
        digest = await self._sha256(assembly.key) if assembly.sha256 else None
        problem = _mismatch(assembly, stored.size, digest)
        if problem is not None:
            with contextlib.suppress(Exception):
                await self.storage.delete(assembly.key)
            async with unit_of_work(self.sessions) as session:
                await AssemblyRepository(session).change(
                    tenant_id, assembly_id, expect_status=AssemblyStatus.OPEN,
                    status=AssemblyStatus.FAILED, size=stored.size, error_detail=problem,
                )  # fmt: skip
            raise AssemblyMismatch(
                f"{problem} The assembled file was discarded; create a new assembly.",
                extra={"size": stored.size, "sha256": digest},
            )
        async with unit_of_work(self.sessions) as session:
            won = await AssemblyRepository(session).change(
                tenant_id, assembly_id, expect_status=AssemblyStatus.OPEN,
                status=AssemblyStatus.COMPLETED, size=stored.size, completed_at=utcnow(),
            )  # fmt: skip
            if won:
                await register_input(
                    session, self.storage, tenant_id, assembly.name, key=assembly.key,
                    size=stored.size, content_type=assembly.content_type, sha256=digest,
                )  # fmt: skip
        async with unit_of_work(self.sessions) as session:
            settled = await self.get(session, tenant_id, assembly_id)
        if not won and settled.status == AssemblyStatus.EXPIRED:
            # The sweep expired it while the store joined the parts: nothing is kept.
            with contextlib.suppress(Exception):
                await self.storage.delete(assembly.key)
            _check_open(settled)
        return settled

    async def _settled_meanwhile(self, tenant_id: str, assembly_id: str) -> Assembly:
        """Another request completed (or failed) the assembly, or the sweep expired it, while
        this one looked."""
        async with unit_of_work(self.sessions) as session:
            assembly = await self.get(session, tenant_id, assembly_id)
        if assembly.status == AssemblyStatus.COMPLETED:
            return assembly
        _check_open(assembly)
        raise AssemblyNotOpen(f"Assembly {assembly_id} is {assembly.status}.")

    async def expire_due(self, now: datetime | None = None, batch: int = 200) -> int:
        """Expire the open assemblies past their ``expires_at`` (every tenant's), ``batch`` at a
        time until none is left: each is marked ``expired`` first (so no PUT or completion
        starts on it after), then its multipart upload is aborted, dropping every stored part.
        How many were expired."""
        now = now or utcnow()
        expired = 0
        while True:
            async with unit_of_work(self.sessions) as session:
                due = await AssemblyRepository(session).due(now, batch)
            for assembly in due:
                expired += await self._expire(assembly)
            if len(due) < batch:  # an expired row is never due again: this ends
                return expired

    async def _expire(self, assembly: Assembly) -> int:
        async with unit_of_work(self.sessions) as session:
            won = await AssemblyRepository(session).change(
                assembly.tenant_id, assembly.id, expect_status=AssemblyStatus.OPEN,
                status=AssemblyStatus.EXPIRED,
                error_detail="Expired: not completed before its expires_at; the parts were "
                "dropped.",
            )  # fmt: skip
        if not won:
            return 0  # completed or failed meanwhile
        with contextlib.suppress(UploadNotFound):
            await self.storage.abort_multipart(assembly.key, assembly.upload_id)
        async with unit_of_work(self.sessions) as session:
            await AssemblyRepository(session).drop_parts(assembly.id)
        return 1

    async def _sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        async for chunk in self.storage.open(key):
            if len(chunk) >= _HASH_OFF_LOOP:
                await asyncio.to_thread(digest.update, chunk)
            else:
                digest.update(chunk)
        return digest.hexdigest()


def _check_open(assembly: Assembly) -> None:
    """AssemblyExpired when the assembly expired (swept or only past due), AssemblyNotOpen when
    it is settled otherwise."""
    expired = assembly.status == AssemblyStatus.EXPIRED or (
        assembly.status == AssemblyStatus.OPEN
        and assembly.expires_at is not None
        and assembly.expires_at <= utcnow()
    )
    if expired:
        raise AssemblyExpired(
            f"Assembly {assembly.id} expired at {_iso(assembly.expires_at)} before it was "
            "completed; its parts are dropped. Create a new assembly.",
            extra={"expires_at": _iso(assembly.expires_at)},
        )
    if assembly.status != AssemblyStatus.OPEN:
        raise AssemblyNotOpen(f"Assembly {assembly.id} is {assembly.status}.")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _number(part: AssemblyPart) -> int:
    return part.number


def _mismatch(assembly: Assembly, size: int, digest: str | None) -> str | None:
    if assembly.total_size is not None and size != assembly.total_size:
        return f"The parts join to {size} bytes; {assembly.total_size} were declared."
    if assembly.sha256 is not None and digest != assembly.sha256:
        return f"The parts join to sha256 {digest}; {assembly.sha256} was declared."
    return None
