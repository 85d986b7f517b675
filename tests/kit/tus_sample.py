"""A sample host for the tus tests: its tables (``kit_tus_uploads`` and ``completions``, where
``on_complete`` records each finished upload in the same transaction), a TusServer over given
backends, and a TCP forwarder that cuts a connection after a byte budget (a broken upload)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import BigInteger, Column, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute

from v100.kit.db import service_metadata, unit_of_work
from v100.kit.errors import Unauthorized, ValidationFailed
from v100.kit.storage import ObjectStore
from v100.kit.tus import NewUpload, TusServer, TusSettings, TusUpload, UploadOwner, add_tus_table

SERVICE = "tussample"
MIGRATIONS = Path(__file__).parent / "migrations_tus"
MiB = 1024 * 1024
TUS_HEADERS = {"Tus-Resumable": "1.0.0"}

metadata = service_metadata(SERVICE)
add_tus_table(metadata)
completions = Table(
    "completions",
    metadata,
    Column("upload_id", String(36), primary_key=True),
    Column("object_key", String(1024), nullable=False),
    Column("size", BigInteger, nullable=False),
)


async def authorize(request: Request) -> UploadOwner:
    tenant = request.headers.get("x-tenant")
    if not tenant:
        raise Unauthorized("send X-Tenant")
    return UploadOwner(tenant_id=tenant, user_id=request.headers.get("x-user"))


async def refuse_forbidden(new: NewUpload) -> None:
    if new.metadata.get("filename") == "forbidden.exe":
        raise ValidationFailed("that file name is refused")


async def record_completion(session: AsyncSession, upload: TusUpload) -> None:
    await session.execute(
        insert(completions).values(
            upload_id=upload.id, object_key=upload.object_key, size=upload.offset
        )
    )


def make_server(
    sessions: async_sessionmaker[AsyncSession], store: ObjectStore, **settings: object
) -> TusServer:
    return TusServer(
        authorize=authorize,
        settings=TusSettings(**settings),  # type: ignore[arg-type]
        pre_create=refuse_forbidden,
        on_complete=record_completion,
        sessions=lambda _: sessions,
        store=lambda _: store,
    )


def make_app(server: TusServer, extra: list[BaseRoute] | None = None) -> Starlette:
    return Starlette(routes=[*server.routes("/v1/uploads", scope=None), *(extra or [])])


async def completed(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple[str, int]]:
    async with unit_of_work(sessions) as session:
        rows = await session.execute(select(completions))
        return {row.upload_id: (row.object_key, row.size) for row in rows}


async def read_object(store: ObjectStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.open(key)])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class BudgetProxy:
    """Forwards 127.0.0.1:<port> to ``target``; once ``budget`` bytes went upstream it aborts
    every connection (both sides), as a network failure mid-request would. The target can be
    changed (a restarted server on another port) while the client keeps the same URL."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = _free_port()
        self.budget: int | None = None
        self.sent = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.BaseTransport] = set()
        self.cut_event = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._abort_all()
            await self._server.wait_closed()

    def _abort_all(self) -> None:
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        self._transports.update((client_w.transport, up_w.transport))
        await asyncio.gather(
            self._pipe(client_r, up_w, upstream=True),
            self._pipe(up_r, client_w, upstream=False),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if upstream and self.budget is not None:
                    allowed = self.budget - self.sent
                    if allowed <= len(data):
                        writer.write(data[: max(allowed, 0)])
                        await writer.drain()
                        self.sent += max(allowed, 0)
                        self.budget = None
                        self.cuts += 1
                        self._abort_all()
                        self.cut_event.set()
                        return
                    self.sent += len(data)
                writer.write(data)
                await writer.drain()
            writer.close()


Payload = Callable[[int], bytes]
