"""CSV export of the history and the audit log: chosen by ``Accept: text/csv`` or
``?format=csv``, streamed page by page from a session of its own (the request's unit of work
has committed by the time the body is sent), so an export of any length stays in small memory."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import StreamingResponse

from v100.kit.db import Page
from v100.kit.http import Runtime

__all__ = ["csv_requested", "stream_csv"]

PageReader = Callable[[AsyncSession, str | None], Awaitable[Page[Any]]]


def csv_requested(request: Request, format: str | None) -> bool:
    if format is not None:
        return format == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    text = "" if value is None else str(value)
    # Spreadsheets run cells starting with these as formulas (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def stream_csv(
    runtime: Runtime,
    filename: str,
    columns: Sequence[str],
    read_page: PageReader,
    schema: type[BaseModel],
) -> StreamingResponse:
    sessions = runtime.sessions
    assert sessions is not None

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        cursor: str | None = None
        while True:
            async with sessions() as session:
                page = await read_page(session, cursor)
            for item in page.items:
                data = schema.model_validate(item).model_dump(mode="json")
                writer.writerow([_cell(data[column]) for column in columns])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
