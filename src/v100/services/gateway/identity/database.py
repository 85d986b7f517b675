"""The identity room's tables and their Alembic tree: identity owns the gateway's database
(tenants, users, refresh tokens, API keys, operator keys); the edge keeps nothing in it."""

from pathlib import Path

from v100.kit.http import DatabaseSpec
from v100.services.gateway.identity.models import Base

__all__ = ["DATABASE", "SERVICE"]

SERVICE = "gateway"  # its database and its Alembic version table are the gateway's
DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")
