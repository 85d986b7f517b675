"""Object storage behind one async interface: local disk (embedded default, with HMAC presigned
links served by ``presigned_routes``) or any S3-compatible server (aioboto3, imported lazily).
A body is received under a size limit, digested, by ``receive_bounded``.
Multipart uploads keep their id with the caller, so an upload resumes after a restart; an abort
leaves nothing, even with a part write in flight, and ``sweep_multipart`` clears orphans."""

from v100.kit.storage._base import (
    MAX_EXPIRES_IN,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    ObjectInfo,
    ObjectStore,
    StoredObject,
    UploadedPart,
    content_disposition,
    part_size_for,
    validate_key,
)
from v100.kit.storage._errors import (
    InvalidKey,
    InvalidPart,
    InvalidPresignedUrl,
    KeyConflict,
    ObjectNotFound,
    RangeNotSatisfiable,
    UploadNotFound,
)
from v100.kit.storage._factory import create_storage, storage_from_settings
from v100.kit.storage._local import (
    AppendLocked,
    LocalAppendFile,
    LocalDiskStore,
    LocalObjectReader,
)
from v100.kit.storage._presign import PresignedGrant
from v100.kit.storage._received import ReceivedObject, UploadRefusals, receive_bounded
from v100.kit.storage._routes import MAX_PRESIGNED_PUT_BYTES, parse_range, presigned_routes
from v100.kit.storage._s3 import S3Store

__all__ = [
    "MAX_EXPIRES_IN",
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MAX_PRESIGNED_PUT_BYTES",
    "MIN_PART_SIZE",
    "AppendLocked",
    "InvalidKey",
    "InvalidPart",
    "InvalidPresignedUrl",
    "KeyConflict",
    "LocalAppendFile",
    "LocalDiskStore",
    "LocalObjectReader",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "PresignedGrant",
    "RangeNotSatisfiable",
    "ReceivedObject",
    "S3Store",
    "StoredObject",
    "UploadNotFound",
    "UploadRefusals",
    "UploadedPart",
    "content_disposition",
    "create_storage",
    "parse_range",
    "part_size_for",
    "presigned_routes",
    "receive_bounded",
    "storage_from_settings",
    "validate_key",
]
