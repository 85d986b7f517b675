"""meeting's tables: meetings (their state, settings and event counter), the participants their
tokens were made for (the truth a meeting token is checked against: a removed participant's
token is refused from then on), breakout rooms, recordings, and idempotent answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from v100.kit.db import ID_LENGTH, TYPE_ANNOTATION_MAP, TenantOwned, Timestamped, service_metadata
from v100.kit.idempotency import add_idempotency_table


class Base(DeclarativeBase):
    metadata = service_metadata("meeting")
    type_annotation_map = TYPE_ANNOTATION_MAP


add_idempotency_table(Base.metadata)


class Meeting(Base, TenantOwned, Timestamped):
    __tablename__ = "meetings"

    title: Mapped[str] = mapped_column(String(200))
    # scheduled -> live -> ended (service.py's docstring)
    status: Mapped[str] = mapped_column(String(16), index=True)
    starts_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    max_participants: Mapped[int] = mapped_column(Integer)
    waiting_room: Mapped[bool]
    locked: Mapped[bool]
    recording_allowed: Mapped[bool]
    # The last sequence number given to one of its events (announcer.py).
    event_sequence: Mapped[int] = mapped_column(BigInteger, default=0)


class Participant(Base, TenantOwned, Timestamped):
    """One meeting token's holder. ``token_id`` is the token's ``jti``: only that token acts as
    this participant."""

    __tablename__ = "participants"

    meeting_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    grants: Mapped[dict[str, Any]] = mapped_column(JSON)
    token_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    token_expires_at: Mapped[datetime]
    # invited -> waiting -> joined <-> left; waiting -> denied; any -> removed
    status: Mapped[str] = mapped_column(String(16), index=True)
    # "main" or a breakout room's id while joined.
    room: Mapped[str] = mapped_column(String(ID_LENGTH), default="main")
    joined_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]


class BreakoutRoom(Base, TenantOwned, Timestamped):
    __tablename__ = "breakout_rooms"

    meeting_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # open -> closed
    status: Mapped[str] = mapped_column(String(16))


class MeetingRecording(Base, TenantOwned, Timestamped):
    __tablename__ = "meeting_recordings"

    meeting_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    # recording -> stopped
    status: Mapped[str] = mapped_column(String(16))
    started_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    stopped_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    started_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    # The recording in recording_processor that holds its media (the WebM the recording page
    # uploads, then the MP4): docs/adr/0057.
    media_recording_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
