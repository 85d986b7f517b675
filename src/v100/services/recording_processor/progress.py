"""Telling the world where a recording stands: every change goes to the recording's ephemeral
progress channel (what WebSocket clients follow live), and state changes and stage starts also
go to the durable ``recordings`` stream. Best effort: the row is the truth, already committed."""

from __future__ import annotations

from v100.contracts.events import (
    RECORDING_ERRORED,
    RECORDING_PROGRESS,
    RECORDING_READY,
    RECORDING_UPLOADED,
    RECORDINGS_STREAM,
    RecordingChanged,
    recording_progress_channel,
)
from v100.kit.bus import Bus, Event
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger
from v100.services.recording_processor.models import Recording

__all__ = ["TERMINAL", "Announcer", "event_of", "snapshot"]

SOURCE = "recording_processor"
TERMINAL = frozenset({"ready", "errored"})
_TYPES = {"ready": RECORDING_READY, "errored": RECORDING_ERRORED}

_log = get_logger("v100.recording_processor.progress")


def snapshot(recording: Recording) -> RecordingChanged:
    """The recording's state as events carry it (taken before a commit, sent after)."""
    return RecordingChanged(
        recording_id=recording.id,
        meeting_id=recording.meeting_id,
        status=recording.status,
        stage=recording.stage,
        percent=recording.percent,
        error=recording.error,
        detail=recording.error_detail,
    )


def event_of(tenant_id: str, state: RecordingChanged, event_type: str | None = None) -> Event:
    """The event for ``state``: ready and errored by status, else ``event_type`` or progress."""
    kind = _TYPES.get(state.status) or event_type or RECORDING_PROGRESS
    return Event(type=kind, source=SOURCE, tenant_id=tenant_id, data=state.model_dump(mode="json"))


class Announcer:
    """Publishes a recording's changes on one bus."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def progress(self, tenant_id: str, state: RecordingChanged) -> None:
        """A percent step: the live channel only."""
        await self._ephemeral(event_of(tenant_id, state))

    async def changed(
        self, tenant_id: str, state: RecordingChanged, *, uploaded: bool = False
    ) -> None:
        """A state change or a stage start: the live channel and the durable stream."""
        event = event_of(tenant_id, state, RECORDING_UPLOADED if uploaded else None)
        await self._ephemeral(event)
        try:
            await self.bus.publish(RECORDINGS_STREAM, event)
        except BackendUnavailable as exc:
            _log.warning(
                "recording event not published",
                type=event.type,
                recording_id=state.recording_id,
                error=str(exc),
            )

    async def _ephemeral(self, event: Event) -> None:
        channel = recording_progress_channel(str(event.data["recording_id"]))
        try:
            await self.bus.publish_ephemeral(channel, event.to_json())
        except BackendUnavailable as exc:
            _log.warning("recording progress not published", channel=channel, error=str(exc))
