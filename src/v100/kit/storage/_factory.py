"""Builds the object store a URL names: ``file:///abs/dir`` or ``file://relative/dir`` for local
disk, ``s3://bucket[/prefix]`` for S3; ``storage_from_settings`` reads the platform settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from v100.kit.storage._base import ObjectStore
from v100.kit.storage._local import LocalDiskStore
from v100.kit.storage._presign import derive_presign_key
from v100.kit.storage._s3 import S3Store

if TYPE_CHECKING:
    from v100.kit.settings import PlatformSettings

__all__ = ["create_storage", "storage_from_settings"]


def create_storage(
    url: str,
    *,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    public_endpoint_url: str | None = None,
    signing_secret: str | bytes | None = None,
    presign_base_url: str = "/_objects",
) -> ObjectStore:
    """The store for ``url``. S3 options apply to ``s3://``; ``signing_secret`` and
    ``presign_base_url`` to ``file://`` (see ``LocalDiskStore``). Nothing is touched yet:
    call ``ensure_bucket()`` once at startup and ``ping()`` for readiness."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme == "file" and rest:
        # "file://var/objects" is relative on purpose (the default under var_dir); urlsplit
        # would read "var" as a host, so the remainder is taken as the path verbatim.
        return LocalDiskStore(
            Path(unquote(rest)),
            signing_key=derive_presign_key(signing_secret) if signing_secret else None,
            presign_base_url=presign_base_url,
        )
    if scheme == "s3":
        parts = urlsplit(url)
        if not parts.netloc:
            raise ValueError(f"storage URL {url!r} names no bucket")
        return S3Store(
            parts.netloc,
            prefix=unquote(parts.path.strip("/")),
            endpoint_url=endpoint_url,
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            public_endpoint_url=public_endpoint_url,
        )
    raise ValueError(f"unsupported storage URL {url!r}: use file://<dir> or s3://<bucket>")


def storage_from_settings(
    platform: PlatformSettings, *, presign_base_url: str = "/_objects"
) -> ObjectStore:
    """The store the platform settings describe. Local presigned links are signed with a key
    derived from the internal token secret, so every process of a deployment accepts them."""
    url = platform.resolved_storage_url()
    secret = platform.s3_secret_access_key
    local = url.lower().startswith("file://")
    return create_storage(
        url,
        endpoint_url=platform.s3_endpoint_url,
        region=platform.s3_region,
        access_key_id=platform.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
        signing_secret=platform.resolved_internal_token_secret if local else None,
        presign_base_url=presign_base_url,
    )
