"""The outbox: hands messages to Twilio after the request that wrote them committed. Each pass
claims what is due (new messages, scheduled ones whose time came, retries) with a lease in the
database, so a process killed mid-send loses nothing: once the lease ends another pass sends it
again (at least once: Twilio's Messages API takes no idempotency key, ADR 0034). A 429, a 5xx
or no answer is tried again on ``sms_retry_schedule_seconds``; any other refusal (21211 invalid
number, 21610 unsubscribed recipient, ...) fails the message at once, with Twilio's code."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.bus import Bus
from v100.kit.db import new_id, unit_of_work
from v100.kit.http import Runtime
from v100.kit.observability import get_logger
from v100.services.integration.clock import Clock
from v100.services.integration.settings import IntegrationSettings
from v100.services.integration.sms.callbacks import status_callback_url
from v100.services.integration.sms.lifecycle import move
from v100.services.integration.sms.models import SmsMessage
from v100.services.integration.sms.repository import MessageRepository, OptOutRepository
from v100.services.integration.sms.service import record_opt_out
from v100.services.integration.sms.twilio_client import (
    UNSUBSCRIBED_RECIPIENT,
    Submitted,
    TwilioMessaging,
    TwilioRefused,
    TwilioUnavailable,
)

__all__ = ["Outbox", "running_outbox"]

_log = get_logger("v100.integration.sms")
_MIN_PASS_INTERVAL = 0.005


class Outbox:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: IntegrationSettings,
        clock: Clock,
        bus: Bus,
        twilio: TwilioMessaging,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.bus = bus
        self.twilio = twilio
        self._sends: set[asyncio.Task[None]] = set()
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """A message may be due now."""
        self._woken.set()

    async def run(self) -> None:
        """Send until cancelled; sends in flight are cancelled too (their leases run out and a
        later pass sends them)."""
        try:
            while True:
                self._woken.clear()
                try:
                    await self.send_due()
                except Exception as exc:  # the database may be back next pass
                    _log.warning("sms outbox pass failed", error=repr(exc))
                await asyncio.sleep(_MIN_PASS_INTERVAL)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.sms_poll_seconds):
                        await self._woken.wait()
        finally:
            for task in list(self._sends):
                task.cancel()
            if self._sends:
                await asyncio.wait(self._sends, timeout=5)

    async def send_due(self) -> int:
        """One pass: claim what is due, up to the free share; how many sends it started."""
        free = self.settings.sms_concurrency - len(self._sends)
        if free <= 0:
            return 0
        now = self.clock.now()
        token = new_id()
        lease_until = now + timedelta(seconds=self.settings.sms_send_lease_seconds)
        claimed: list[str] = []
        async with unit_of_work(self.sessions) as session:
            messages = MessageRepository(session)
            for message_id in await messages.due(now, free):
                if await messages.claim(message_id, now, token, lease_until):
                    claimed.append(message_id)
        for message_id in claimed:
            task = asyncio.create_task(self._send(message_id, token), name=f"sms:{message_id}")
            self._sends.add(task)
            task.add_done_callback(self._finished)
        return len(claimed)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            _log.warning("sms send failed", error=repr(exc))
        self.wake()  # a free slot, and maybe a retry due at once

    async def _send(self, message_id: str, token: str) -> None:
        async with unit_of_work(self.sessions) as session:
            message = await session.get(SmsMessage, message_id)
            if message is None or message.lease_token != token:
                return
            address = message.messaging_service_sid or message.from_number or ""
            if await OptOutRepository(session).opted_out(address, message.to):
                # They texted STOP between the request and the send time.
                await move(
                    session, self.bus, message_id, "failed", self.clock.now(),
                    from_statuses=["submitting"], lease_token=token,
                    error_message="The recipient opted out before the message was sent.",
                )  # fmt: skip
                return
            to, body, attempts = message.to, message.body, message.attempts
            from_number, service_sid = message.from_number, message.messaging_service_sid
        try:
            submitted = await self.twilio.send(
                to=to, body=body, from_number=from_number, messaging_service_sid=service_sid,
                status_callback=status_callback_url(self.settings, message_id),
            )  # fmt: skip
        except TwilioRefused as exc:
            await self._refused(message_id, token, exc)
        except TwilioUnavailable as exc:
            await self._again_later(message_id, token, attempts, exc.code, exc.message)
        else:
            await self._accepted(message_id, token, submitted)

    async def _accepted(self, message_id: str, token: str, submitted: Submitted) -> None:
        now = self.clock.now()
        async with unit_of_work(self.sessions) as session:
            moved = await move(
                session, self.bus, message_id, "queued", now, from_statuses=["submitting"],
                lease_token=token, twilio_sid=submitted.sid[:34], submitted_at=now,
            )  # fmt: skip
            if moved is None:
                # A status callback got here first and moved it on; keep the SID.
                await MessageRepository(session).remember_sid(message_id, submitted.sid[:34], now)

    async def _refused(self, message_id: str, token: str, refusal: TwilioRefused) -> None:
        now = self.clock.now()
        async with unit_of_work(self.sessions) as session:
            failed = await move(
                session, self.bus, message_id, "failed", now, from_statuses=["submitting"],
                lease_token=token, error_code=refusal.code, error_message=refusal.message[:500],
            )  # fmt: skip
            if failed is not None and refusal.code == UNSUBSCRIBED_RECIPIENT:
                # Twilio knows them as unsubscribed: remember it, so the next send is refused
                # here, before any call.
                await record_opt_out(
                    session, self.bus, tenant_id=failed.tenant_id,
                    sender_address=failed.messaging_service_sid or failed.from_number or "",
                    sender_id=failed.sender_id, phone_number=failed.to,
                    keyword=str(UNSUBSCRIBED_RECIPIENT), now=now,
                )  # fmt: skip
        _log.info("twilio refused an sms", message_id=message_id, code=refusal.code)

    async def _again_later(
        self, message_id: str, token: str, attempts: int, code: int | None, why: str
    ) -> None:
        now = self.clock.now()
        schedule = self.settings.sms_retry_schedule_seconds
        async with unit_of_work(self.sessions) as session:
            if attempts < len(schedule):
                await MessageRepository(session).move(
                    message_id, ["submitting"],
                    {"status": "pending", "lease_token": None, "lease_until": None,
                     "next_attempt_at": now + timedelta(seconds=schedule[attempts]),
                     "error_code": code, "error_message": why[:500]},
                    lease_token=token,
                )  # fmt: skip
                return
            await move(
                session, self.bus, message_id, "failed", now, from_statuses=["submitting"],
                lease_token=token, error_code=code,
                error_message=f"Gave up after {attempts} tries: {why}"[:500],
            )  # fmt: skip
        _log.warning("sms not sent, retries ran out", message_id=message_id, error=why)


def running_outbox(
    settings: IntegrationSettings,
) -> Callable[[Runtime], AbstractAsyncContextManager[None]]:
    """integration's SMS component: with a Twilio account configured, opens the SDK's client
    and runs the outbox (once the database is migrated) until shutdown; without one, provides
    nothing, and the routes that need Twilio answer 501 not-configured."""

    @contextlib.asynccontextmanager
    async def sms(runtime: Runtime) -> AsyncIterator[None]:
        if not settings.sms_configured:
            yield
            return
        assert settings.twilio_account_sid is not None
        assert settings.twilio_auth_token is not None
        assert runtime.sessions is not None
        twilio = TwilioMessaging(
            settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
            api_base_url=settings.twilio_api_base_url, timeout=settings.twilio_timeout_seconds,
        )  # fmt: skip
        outbox = Outbox(runtime.sessions, settings, runtime.get(Clock), runtime.bus, twilio)
        runtime.provide(twilio)
        runtime.provide(outbox)

        async def run() -> None:
            await runtime.migrated.wait()
            await outbox.run()

        task = asyncio.create_task(run(), name="sms-outbox")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)
            await twilio.aclose()

    return sms
