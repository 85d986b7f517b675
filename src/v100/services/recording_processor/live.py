"""The progress WebSocket: subscribe to the recording's live channel first, then send its
stored state (so a late client starts from where things are), then every change until it is
ready or errored. Pub/sub keeps nothing, so when the channel is quiet the stored state is read
again every few seconds: a lost message delays a client, it never strands it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from v100.contracts.events import RECORDING_PROGRESS, recording_progress_channel
from v100.kit.auth import Principal
from v100.kit.bus import Event, Subscription
from v100.kit.db import unit_of_work
from v100.kit.http import Runtime
from v100.kit.observability import get_logger
from v100.services.recording_processor.progress import TERMINAL, event_of, snapshot
from v100.services.recording_processor.repository import RecordingRepository
from v100.services.recording_processor.settings import RecordingProcessorSettings

__all__ = ["follow"]

_log = get_logger("v100.recording_processor.live")
# Close codes: 1000 when the recording settled; 4404 when it does not exist (or is another
# tenant's); 1011 when the service cannot follow it (a backend is down).
NOT_FOUND = 4404


def _message(event: Event) -> dict[str, Any]:
    return {"type": event.type, "time": event.time.isoformat(), **event.data}


async def _stored(runtime: Runtime, tenant_id: str, recording_id: str) -> Event | None:
    assert runtime.sessions is not None
    async with unit_of_work(runtime.sessions) as session:
        recording = await RecordingRepository(session).get(tenant_id, recording_id)
    if recording is None:
        return None
    return event_of(tenant_id, snapshot(recording), RECORDING_PROGRESS)


async def follow(
    websocket: WebSocket,
    runtime: Runtime,
    settings: RecordingProcessorSettings,
    principal: Principal,
    recording_id: str,
) -> None:
    try:
        async with runtime.bus.subscribe(recording_progress_channel(recording_id)) as channel:
            current = await _stored(runtime, principal.tenant_id, recording_id)
            await websocket.accept()
            if current is None:
                await websocket.close(NOT_FOUND, "no such recording")
                return
            await _stream(websocket, channel, current, runtime, principal.tenant_id, settings)
    except WebSocketDisconnect:
        return
    except Exception:
        _log.exception("progress stream failed", recording_id=recording_id)
        if websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(1011, "progress unavailable")


async def _stream(
    websocket: WebSocket,
    channel: Subscription,
    current: Event,
    runtime: Runtime,
    tenant_id: str,
    settings: RecordingProcessorSettings,
) -> None:
    gone = asyncio.create_task(_until_disconnect(websocket))
    try:
        last = current.data
        await websocket.send_json(_message(current))
        while last["status"] not in TERMINAL:
            waiting = asyncio.ensure_future(anext(channel))
            done, _ = await asyncio.wait(
                {waiting, gone},
                timeout=settings.progress_poll_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if gone in done:
                waiting.cancel()
                return
            if waiting in done:
                event = Event.from_json(waiting.result())
            else:
                waiting.cancel()
                stored = await _stored(runtime, tenant_id, str(last["recording_id"]))
                if stored is None or stored.data == last:
                    continue
                event = stored
            last = event.data
            await websocket.send_json(_message(event))
        await websocket.close(1000, str(last["status"]))
    finally:
        gone.cancel()


async def _until_disconnect(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
