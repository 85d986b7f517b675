"""One connection's sync, run by the process that holds its lease: the access token made fresh
(refreshed ahead of expiry, and once on a 401), then

1. **pull**: the contacts the CRM changed since the connection's cursor (HubSpot's
   ``lastmodifieddate``, Salesforce's ``LastModifiedDate``), page by page, each page applied
   and the cursor moved in one transaction, so a stop anywhere resumes from the last page;
2. **push**: contacts changed through V100's API, created or updated in the CRM;
3. **activities**: platform events the connection maps to activities, logged on the contact.

A contact changed on both sides since they last agreed is a conflict: the later change wins
(the CRM's on a tie), and every decision goes to the sync log. A vendor's "slow down" is waited
out (``Retry-After``, else a doubling backoff) a few times; past that the sync stops as
``rate_limited`` and resumes at its cursor once the wait is over, so nothing is lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import new_id, unit_of_work
from v100.kit.observability import get_logger
from v100.kit.sealing import Sealer
from v100.services.integration.clock import Clock
from v100.services.integration.crm.connectors import Connectors
from v100.services.integration.crm.models import (
    CONTACT_FIELDS,
    CrmActivity,
    CrmConnection,
    CrmContact,
    CrmSyncDecision,
)
from v100.services.integration.crm.repository import (
    ActivityRepository,
    ConnectionRepository,
    ContactRepository,
    EventRepository,
)
from v100.services.integration.crm.vendors import (
    ActivityNote,
    CrmVendor,
    RemoteContact,
    VendorAccess,
    VendorConflict,
    VendorError,
    VendorGrantRefused,
    VendorRateLimited,
    VendorUnauthorized,
)
from v100.services.integration.filters import matches
from v100.services.integration.repository import insert_new
from v100.services.integration.settings import IntegrationSettings

__all__ = ["ConnectionSync", "contact_email_of", "seal_tokens"]

T = TypeVar("T")
_log = get_logger("v100.integration.crm")


def token_context(connection_id: str, kind: str) -> str:
    return f"crm:{connection_id}:{kind}"


def seal_tokens(
    sealer: Sealer, connection: CrmConnection, access: str, refresh: str | None
) -> None:
    connection.access_token = sealer.seal(access, context=token_context(connection.id, "access"))
    if refresh is not None:
        connection.refresh_token = sealer.seal(
            refresh, context=token_context(connection.id, "refresh")
        )


def contact_email_of(data: dict[str, Any]) -> str | None:
    """The contact an event is about: ``data.metadata.contact_email`` (meeting events), or the
    video's ``passthrough`` when it is an e-mail address or a JSON object with
    ``contact_email``."""
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("contact_email"), str):
        return str(metadata["contact_email"]).strip().lower() or None
    passthrough = data.get("passthrough")
    if not isinstance(passthrough, str):
        return None
    text = passthrough.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            return None
        value = parsed.get("contact_email") if isinstance(parsed, dict) else None
        return value.strip().lower() if isinstance(value, str) and "@" in value else None
    return text.lower() if "@" in text and " " not in text else None


class SyncStopped(Exception):
    """The sync ends early: rate-limited past what it waits out, or the grant is gone."""

    def __init__(self, status: str, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.wait = wait


@dataclass
class _Run:
    """What one run carries between its transactions."""

    connection_id: str
    tenant_id: str
    lease: str
    vendor: CrmVendor
    access: VendorAccess
    expires_at: datetime | None
    refreshed: bool = False


class ConnectionSync:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        connectors: Connectors,
        sealer: Sealer,
        settings: IntegrationSettings,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.connectors = connectors
        self.sealer = sealer
        self.settings = settings
        self.clock = clock

    # -- the run -------------------------------------------------------------------------------

    async def run(self, connection_id: str, lease: str) -> str:
        """Sync one connection this process holds; the sync status it ended with."""
        async with unit_of_work(self.sessions) as session:
            connection = await ConnectionRepository(session).held(connection_id, lease)
            if connection is None:
                return "lost"
            run = _Run(
                connection_id, connection.tenant_id, lease,
                self.connectors.get(connection.vendor),
                VendorAccess(
                    self.sealer.open(connection.access_token,
                                     context=token_context(connection.id, "access")),
                    connection.instance_url,
                ),
                connection.token_expires_at,
            )  # fmt: skip
        status, error, wait = "idle", None, None
        try:
            if self._expiring(run):
                await self._refresh(run)
            await self._pull(run)
            await self._push(run)
            await self._activities(run)
        except SyncStopped as stop:
            status, error, wait = stop.status, stop.reason, stop.wait
        except VendorError as exc:
            status, error = "failed", str(exc)[:500]
            _log.warning("crm sync failed", connection=connection_id, error=error)
        if status != "lost":
            await self._finish(run, status, error, wait)
        return status

    async def _finish(self, run: _Run, status: str, error: str | None, wait: float | None) -> None:
        now = self.clock.now()
        interval = timedelta(seconds=self.settings.crm_sync_interval_seconds)
        async with unit_of_work(self.sessions) as session:
            connection = await ConnectionRepository(session).held(run.connection_id, run.lease)
            if connection is None:
                return
            if status == "rate_limited":
                self._decide(session, run, kind="rate_limited", reason=error or "",
                             fields={"retry_after": wait})  # fmt: skip
                connection.next_sync_at = now + timedelta(seconds=max(wait or 0.0, 1.0))
            elif status == "reauthorize":
                connection.status = "reauthorize"
                connection.next_sync_at = None
            else:
                connection.next_sync_at = now + interval
            if status == "idle":
                connection.last_synced_at = now
            # A sync asked for while this one ran goes again at once, and the connection
            # says so (not idle: what was asked for has not run yet).
            if connection.sync_status == "queued" and status == "idle":
                connection.next_sync_at = now
                status = "queued"
            connection.sync_status = "failed" if status == "reauthorize" else status
            connection.last_error = error
            connection.lease_token = None
            connection.lease_until = None

    # -- tokens --------------------------------------------------------------------------------

    def _expiring(self, run: _Run) -> bool:
        if run.expires_at is None:
            return False
        ahead = timedelta(seconds=self.settings.crm_refresh_ahead_seconds)
        return run.expires_at - self.clock.now() <= ahead

    async def _refresh(self, run: _Run) -> None:
        async with unit_of_work(self.sessions) as session:
            connection = await ConnectionRepository(session).held(run.connection_id, run.lease)
            if connection is None or connection.refresh_token is None:
                raise SyncStopped("reauthorize", "no refresh token: authorize again")
            refresh = self.sealer.open(
                connection.refresh_token, context=token_context(connection.id, "refresh")
            )
        try:
            tokens = await run.vendor.refresh(refresh, self.clock.now())
        except VendorGrantRefused as exc:
            raise SyncStopped("reauthorize", f"the refresh token was refused: {exc}") from exc
        async with unit_of_work(self.sessions) as session:
            connection = await ConnectionRepository(session).held(run.connection_id, run.lease)
            if connection is None:
                raise SyncStopped("lost", "the lease ended")
            seal_tokens(self.sealer, connection, tokens.access_token, tokens.refresh_token)
            connection.token_expires_at = tokens.expires_at
            if tokens.instance_url:
                connection.instance_url = tokens.instance_url
        run.access = VendorAccess(
            tokens.access_token, tokens.instance_url or run.access.instance_url
        )
        run.expires_at = tokens.expires_at
        run.refreshed = True

    async def _call(self, run: _Run, call: Callable[[VendorAccess], Awaitable[T]]) -> T:
        """One vendor call: refreshed and retried once on a 401, and a rate limit waited out
        ``crm_rate_limit_retries`` times (each wait at most ``crm_max_wait_seconds``)."""
        waits = 0
        refreshed_here = False
        while True:
            try:
                return await call(run.access)
            except VendorUnauthorized:
                if refreshed_here:
                    raise
                await self._refresh(run)
                refreshed_here = True
            except VendorRateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else float(2**waits)
                if waits >= self.settings.crm_rate_limit_retries or (
                    wait > self.settings.crm_max_wait_seconds
                ):
                    raise SyncStopped(
                        "rate_limited", f"{run.vendor.name} asked to slow down: {exc.message}",
                        wait,
                    ) from exc  # fmt: skip
                waits += 1
                await asyncio.sleep(wait)

    # -- pull ----------------------------------------------------------------------------------

    async def _pull(self, run: _Run) -> None:
        async with unit_of_work(self.sessions) as session:
            connection = await self._held(session, run)
            since = connection.contacts_cursor
        page: str | None = None
        limit = self.settings.crm_page_size
        while True:
            result = await self._call(
                run,
                lambda access, at=page: run.vendor.changed_contacts(access, since, at, limit),  # type: ignore[misc]
            )
            async with unit_of_work(self.sessions) as session:
                connection = await self._held(session, run)
                for remote in result.items:
                    await self._apply(session, run, remote)
                newest = max((r.modified_at for r in result.items), default=None)
                if newest is not None and (
                    connection.contacts_cursor is None or newest > connection.contacts_cursor
                ):
                    connection.contacts_cursor = newest
            if result.next is None:
                return
            page = result.next

    async def _apply(self, session: AsyncSession, run: _Run, remote: RemoteContact) -> None:
        contacts = ContactRepository(session)
        contact = await contacts.by_remote(run.tenant_id, run.connection_id, remote.remote_id)
        email = remote.fields.get("email")
        if contact is None and email:
            # A contact made in V100 whose create reached the CRM but not our row.
            contact = await contacts.by_email(
                run.tenant_id, run.connection_id, email, unlinked=True
            )
            if contact is not None:
                contact.remote_id = remote.remote_id
        now = self.clock.now()
        if contact is None:
            contact = CrmContact(
                id=new_id(), tenant_id=run.tenant_id, connection_id=run.connection_id,
                remote_id=remote.remote_id, **remote.fields,
                remote_modified_at=remote.modified_at, pending_push=False, synced_at=now,
            )  # fmt: skip
            await contacts.add(contact)
            self._decide(session, run, contact=contact, kind="pulled", winner="remote",
                         reason="new in the CRM", fields=dict(remote.fields),
                         remote_modified_at=remote.modified_at)  # fmt: skip
            return
        held = contact.remote_modified_at
        if held is not None and (
            remote.modified_at < held or (remote.modified_at == held and contact.pending_push)
        ):
            # Older than what we hold; or the same time, which is the cursor re-reading its
            # boundary while our own change waits to be pushed (the push decides then).
            return
        # The same time and nothing of ours pending: the boundary again, or a second change
        # within the CRM's clock tick (Salesforce keeps whole seconds in practice). The
        # fields tell which, below.
        local = {name: getattr(contact, name) for name in CONTACT_FIELDS}
        changed = {n: {"local": local[n], "remote": remote.fields.get(n)}
                   for n in CONTACT_FIELDS if local[n] != remote.fields.get(n)}  # fmt: skip
        contact.remote_modified_at = remote.modified_at
        if not changed:
            # Our own push coming back, or both sides made the same change.
            contact.pending_push = False
            contact.synced_at = now
            return
        if not contact.pending_push:
            self._take_remote(contact, remote, now)
            self._decide(session, run, contact=contact, kind="pulled", winner="remote",
                         reason="changed in the CRM", fields=changed,
                         remote_modified_at=remote.modified_at)  # fmt: skip
            return
        local_at = contact.local_modified_at
        if local_at is not None and local_at > remote.modified_at:
            self._decide(session, run, contact=contact, kind="conflict", winner="local",
                         reason="changed on both sides; V100's change is later",
                         fields=changed, local_modified_at=local_at,
                         remote_modified_at=remote.modified_at)  # fmt: skip
            return  # stays pending: the push sends V100's values
        self._take_remote(contact, remote, now)
        self._decide(session, run, contact=contact, kind="conflict", winner="remote",
                     reason="changed on both sides; the CRM's change is later (or as late)",
                     fields=changed, local_modified_at=local_at,
                     remote_modified_at=remote.modified_at)  # fmt: skip

    @staticmethod
    def _take_remote(contact: CrmContact, remote: RemoteContact, now: datetime) -> None:
        for name in CONTACT_FIELDS:
            setattr(contact, name, remote.fields.get(name))
        contact.pending_push = False
        contact.synced_at = now

    # -- push ----------------------------------------------------------------------------------

    async def _push(self, run: _Run) -> None:
        after: str | None = None
        while True:
            async with unit_of_work(self.sessions) as session:
                batch = [
                    (c.id, c.remote_id, c.local_modified_at,
                     {n: getattr(c, n) for n in CONTACT_FIELDS})
                    for c in await ContactRepository(session).pending(
                        run.tenant_id, run.connection_id, after, self.settings.crm_page_size
                    )
                ]  # fmt: skip
            if not batch:
                return
            for contact_id, remote_id, read_at, fields in batch:
                await self._push_one(run, contact_id, remote_id, read_at, fields)
            after = batch[-1][0]

    async def _push_one(
        self, run: _Run, contact_id: str, remote_id: str | None, read_at: datetime | None,
        fields: dict[str, str | None],
    ) -> None:  # fmt: skip
        created = remote_id is None
        took_existing = False
        try:
            if remote_id is None:
                try:
                    remote = await self._call(
                        run, lambda access: run.vendor.create_contact(access, fields)
                    )
                except VendorConflict as exc:
                    if exc.existing_id is None:
                        raise
                    # The CRM has this e-mail already (made there, and not yet in what its
                    # search answered): link that record and update it.
                    existing = exc.existing_id
                    took_existing = True
                    remote = await self._call(
                        run, lambda access: run.vendor.update_contact(access, existing, fields)
                    )
            else:
                linked = remote_id
                remote = await self._call(
                    run, lambda access: run.vendor.update_contact(access, linked, fields)
                )
        except (VendorRateLimited, VendorUnauthorized, SyncStopped):
            raise
        except VendorError as exc:
            if exc.status in (0, 500, 502, 503, 504):
                raise  # the vendor is away: the whole run stops and is retried
            async with unit_of_work(self.sessions) as session:
                # Not sent again until it changes: the CRM would refuse it again.
                await ContactRepository(session).settle_push(
                    run.tenant_id, contact_id, read_at, {"refused_change_at": read_at}
                )
                self._decide(session, run, contact_id=contact_id, remote_id=remote_id,
                             kind="failed", winner="local",
                             reason=f"the CRM refused the contact: {exc}"[:500],
                             fields=dict(fields))  # fmt: skip
            return
        async with unit_of_work(self.sessions) as session:
            await self._held(session, run)
            now = self.clock.now()
            won = await ContactRepository(session).settle_push(
                run.tenant_id, contact_id, read_at,
                {"remote_id": remote.remote_id, "remote_modified_at": remote.modified_at,
                 "pending_push": False, "synced_at": now},
            )  # fmt: skip
            if not won:
                # Changed again meanwhile: keep it pending, but remember the CRM's id and time.
                contact = await ContactRepository(session).get(run.tenant_id, contact_id)
                if contact is not None:
                    contact.remote_id = remote.remote_id
                    contact.remote_modified_at = remote.modified_at
            reason = "updated in the CRM"
            if took_existing:
                reason = "linked to the CRM's contact with this e-mail, updated"
            elif created:
                reason = "created in the CRM"
            self._decide(session, run, contact_id=contact_id, remote_id=remote.remote_id,
                         kind="pushed", winner="local", reason=reason, fields=dict(fields),
                         local_modified_at=read_at,
                         remote_modified_at=remote.modified_at)  # fmt: skip

    # -- activities ----------------------------------------------------------------------------

    async def _activities(self, run: _Run) -> None:
        await self._collect_activities(run)
        while True:
            async with unit_of_work(self.sessions) as session:
                pending = [
                    (a.id, a.contact_email, a.subject, a.body, a.occurred_at)
                    for a in await ActivityRepository(session).pending(
                        run.tenant_id, run.connection_id, self.settings.crm_page_size
                    )
                ]
            if not pending:
                return
            for activity_id, email, subject, body, occurred_at in pending:
                await self._log_activity(
                    run, activity_id, email, ActivityNote(subject, body, occurred_at)
                )

    async def _collect_activities(self, run: _Run) -> None:
        settle = timedelta(seconds=self.settings.stream_settle_seconds)
        while True:
            async with unit_of_work(self.sessions) as session:
                connection = await self._held(session, run)
                patterns = list(connection.activity_event_types)
                messages = await EventRepository(session).after(
                    run.tenant_id,
                    connection.activities_cursor,
                    self.clock.now() - settle,
                    self.settings.crm_page_size,
                )
                if not messages:
                    return
                for message in messages:
                    if not patterns or not matches(patterns, message.event_type):
                        continue
                    data = json.loads(message.payload).get("data") or {}
                    email = contact_email_of(data) if isinstance(data, dict) else None
                    subject, body = _describe(message.event_type, data)
                    now = self.clock.now()
                    await insert_new(session, CrmActivity, {
                        "id": new_id(), "tenant_id": run.tenant_id,
                        "connection_id": run.connection_id, "message_id": message.id,
                        "event_type": message.event_type, "occurred_at": message.occurred_at,
                        "contact_email": email, "subject": subject, "body": body,
                        "status": "pending", "attempts": 0, "created_at": now, "updated_at": now,
                    }, ("connection_id", "message_id"))  # fmt: skip
                connection.activities_cursor = messages[-1].id

    async def _log_activity(
        self, run: _Run, activity_id: str, email: str | None, note: ActivityNote
    ) -> None:
        async with unit_of_work(self.sessions) as session:
            contact = (
                None if email is None else await ContactRepository(session).by_email(
                    run.tenant_id, run.connection_id, email
                )
            )  # fmt: skip
            contact_id = None if contact is None else contact.id
            remote_contact = None if contact is None else contact.remote_id
            if remote_contact is None:
                activity = await ActivityRepository(session).get(run.tenant_id, activity_id)
                assert activity is not None
                activity.status = "skipped"
                activity.contact_id = contact_id
                activity.last_error = (
                    "the event names no contact e-mail" if email is None
                    else f"no contact {email} in this CRM"
                )  # fmt: skip
                self._decide(session, run, activity_id=activity_id, contact_id=contact_id,
                             kind="skipped", reason=f"activity not logged: {activity.last_error}",
                             fields={"event_type": activity.event_type})  # fmt: skip
                return
        remote_activity: str | None = None
        error: str | None = None
        try:
            remote_activity = await self._call(
                run, lambda access: run.vendor.log_activity(access, remote_contact, note)
            )
        except (VendorRateLimited, VendorUnauthorized, SyncStopped):
            raise
        except VendorError as exc:
            if exc.status in (0, 500, 502, 503, 504):
                raise
            error = str(exc)[:500]
        async with unit_of_work(self.sessions) as session:
            activity = await ActivityRepository(session).get(run.tenant_id, activity_id)
            assert activity is not None
            activity.attempts += 1
            activity.contact_id = contact_id
            activity.status = "logged" if error is None else "failed"
            activity.remote_id = remote_activity
            activity.last_error = error
            self._decide(session, run, activity_id=activity_id, contact_id=contact_id,
                         remote_id=remote_activity, kind="activity" if error is None else "failed",
                         winner="local",
                         reason=f"{activity.event_type} logged on the contact" if error is None
                         else f"the CRM refused the activity: {error}",
                         fields={"event_type": activity.event_type})  # fmt: skip

    # -- helpers -------------------------------------------------------------------------------

    async def _held(self, session: AsyncSession, run: _Run) -> CrmConnection:
        connection = await ConnectionRepository(session).held(run.connection_id, run.lease)
        if connection is None:
            raise SyncStopped("lost", "the lease ended")
        return connection

    def _decide(
        self, session: AsyncSession, run: _Run, *, kind: str, reason: str,
        contact: CrmContact | None = None, contact_id: str | None = None,
        activity_id: str | None = None, remote_id: str | None = None,
        winner: str | None = None, fields: dict[str, Any] | None = None,
        local_modified_at: datetime | None = None, remote_modified_at: datetime | None = None,
    ) -> None:  # fmt: skip
        session.add(CrmSyncDecision(
            id=new_id(), tenant_id=run.tenant_id, connection_id=run.connection_id,
            contact_id=contact.id if contact is not None else contact_id,
            activity_id=activity_id,
            remote_id=contact.remote_id if contact is not None else remote_id,
            kind=kind, winner=winner, reason=reason[:500], fields=fields or {},
            local_modified_at=local_modified_at, remote_modified_at=remote_modified_at,
            created_at=self.clock.now(),
        ))  # fmt: skip


def _describe(event_type: str, data: dict[str, Any]) -> tuple[str, str]:
    """An activity's subject and body, from the event."""
    resource = str(data.get("title") or data.get("id") or "")
    subject = {
        "video.ready": "Video ready",
        "recording.ready": "Meeting recording ready",
    }.get(event_type, event_type)
    if resource:
        subject = f"{subject}: {resource}"
    lines = [f"V100 event {event_type}"]
    for key in ("id", "status", "duration", "meeting_id"):
        if data.get(key) is not None:
            lines.append(f"{key}: {data[key]}")
    return subject[:255], "\n".join(lines)
