"""Storage failures, as members of the kit's problem hierarchy so an endpoint that lets one
escape answers with the right status:

    NotFound (kit)            404
     ├── ObjectNotFound           no object under that key
     └── UploadNotFound           no multipart upload with that id for that key
    BadRequest (kit)          400
     ├── InvalidKey               key would escape the store or is malformed
     └── InvalidPart              parts missing, out of order, wrong etag, or too small
    Forbidden (kit)           403
     └── InvalidPresignedUrl      forged, expired, or used for another method
    Conflict (kit)            409
     └── KeyConflict              local disk: "a" and "a/b" cannot both exist
    RangeNotSatisfiable       416  range starts at or past the end of the object
    BackendUnavailable (kit)  503  the disk or the S3 endpoint cannot be reached or refuses us
"""

from __future__ import annotations

from v100.kit.errors import BadRequest, Conflict, Forbidden, NotFound, ProblemError

__all__ = [
    "InvalidKey",
    "InvalidPart",
    "InvalidPresignedUrl",
    "KeyConflict",
    "ObjectNotFound",
    "RangeNotSatisfiable",
    "UploadNotFound",
]


class ObjectNotFound(NotFound):
    title = "Object not found"


class UploadNotFound(NotFound):
    title = "Multipart upload not found"


class InvalidKey(BadRequest):
    slug = "invalid-object-key"
    title = "Invalid object key"


class InvalidPart(BadRequest):
    slug = "invalid-upload-part"
    title = "Invalid multipart upload part"


class InvalidPresignedUrl(Forbidden):
    slug = "invalid-presigned-url"
    title = "Invalid or expired link"


class KeyConflict(Conflict):
    slug = "object-key-conflict"
    title = "Object key conflicts with an existing key"


class RangeNotSatisfiable(ProblemError):
    status = 416
    slug = "range-not-satisfiable"
    title = "Range not satisfiable"
