"""How a live session pays (ADR 0038; the flow is ``contracts.credit_holds``): its length is not
known ahead, so it holds one minute at a time. The first minute is held before the WebSocket is
accepted (no credits: the handshake is refused 402); when the audio received enters the next
minute, that minute is held and the one before captured; when the stream ends, the minute
being streamed is captured, or released if no audio came at all. Every started minute of audio
received costs ``credits_per_minute``. Keys ``transcription-session:<id>-<minute>:...``; the
open hold's id is kept on the session's row, so the sweep can release it if the stream's
process died."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from v100.contracts.billing import BillingClient
from v100.contracts.credit_holds import HoldTerms, hold_lifetime
from v100.kit.db import utcnow
from v100.kit.observability import get_logger
from v100.services.transcription.errors import TranscriptFailed
from v100.services.transcription.settings import TranscriptionSettings

__all__ = ["MinuteHolds", "SaveHold", "live_terms"]

_log = get_logger("v100.transcription.live_credits")


def live_terms(settings: TranscriptionSettings) -> HoldTerms:
    """A minute's hold outlives the longest stream (a minute of audio may take that long to
    arrive, with pauses kept open by KeepAlive)."""
    return HoldTerms(
        kind="transcription-session",
        reason="transcription.live",
        work="the live session",
        lifetime=hold_lifetime(settings.live_max_session_seconds, attempts=1),
        failure=TranscriptFailed,
    )


# Where the open hold is written: (hold id, minutes held so far).
SaveHold = Callable[[str | None, int], Coroutine[Any, Any, None]]


class MinuteHolds:
    """The holds of one session's stream. ``open`` before accepting the WebSocket; ``cover``
    before each piece of audio goes to the backend; ``settle`` when the stream ended."""

    def __init__(
        self,
        billing: BillingClient | None,
        terms: HoldTerms,
        *,
        session_id: str,
        tenant_id: str,
        per_minute: int,
        save: SaveHold,
    ) -> None:
        self._billing = billing if per_minute > 0 else None
        self._terms = terms
        self._session_id = session_id
        self._tenant_id = tenant_id
        self._per_minute = per_minute
        self._save = save
        self.minutes = 0  # minutes held so far (the last one is open)
        self.hold_id: str | None = None
        self.charged = 0

    def _work(self, minute: int) -> str:
        return f"{self._session_id}-{minute}"

    async def open(self) -> None:
        """Hold the first minute; ``TranscriptFailed`` when billing refuses."""
        await self._hold_next()

    async def cover(self, audio_seconds: float) -> None:
        """Hold every minute ``audio_seconds`` has entered and capture the ones it has left."""
        while self._billing is not None and audio_seconds > self.minutes * 60:
            finished = self.hold_id
            await self._hold_next()
            await self._capture(self.minutes - 1, finished)

    async def settle(self, audio_seconds: float) -> int | None:
        """Capture the minute being streamed (release it when no audio came at all); the
        credits charged in all, None when nothing is charged here."""
        if self._billing is None:
            return None
        if self.hold_id is not None:
            if audio_seconds > 0:
                await self._capture(self.minutes, self.hold_id)
            else:
                await self._terms.release(
                    self._billing, work_id=self._work(self.minutes), tenant_id=self._tenant_id,
                    hold_id=self.hold_id,
                )  # fmt: skip
            self.hold_id = None  # the session's row forgets it as it settles
        return self.charged

    async def _hold_next(self) -> None:
        if self._billing is None:
            return
        minute = self.minutes + 1
        hold_id = await self._terms.reserve(
            self._billing, work_id=self._work(minute), tenant_id=self._tenant_id,
            created_at=utcnow(), amount=self._per_minute, last_attempt=True,
        )  # fmt: skip
        self.minutes, self.hold_id = minute, hold_id
        await self._save(hold_id, minute)

    async def _capture(self, minute: int, hold_id: str | None) -> None:
        assert self._billing is not None
        try:
            charged = await self._terms.capture(
                self._billing, work_id=self._work(minute), tenant_id=self._tenant_id,
                hold_id=hold_id, amount=self._per_minute,
            )  # fmt: skip
        except Exception as exc:
            # The hold lapses at its expiry: the minute goes unpaid rather than the stream
            # stopping for billing's sake.
            _log.warning("live minute not captured", session_id=self._session_id,
                         minute=minute, error=repr(exc))  # fmt: skip
            return
        self.charged += charged or 0
