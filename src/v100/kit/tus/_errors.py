"""What a tus request can fail with, as problem+json errors carrying tus's own status codes:

ProblemError (kit)
 ├── TusVersionUnsupported    412  tus-version-unsupported   (no or another Tus-Resumable)
 ├── ChecksumMismatch         460  checksum-mismatch         (the chunk was not kept)
 ├── UploadLocked             423  upload-locked             (another request is writing it)
 ├── UploadGone               410  upload-expired
 ├── NotFound (kit)           404
 │    └── TusUploadNotFound       upload-not-found           (or another tenant's)
 ├── BadRequest (kit)         400
 │    └── InvalidTusRequest       invalid-tus-request        (bad or missing tus headers)
 ├── Conflict (kit)           409
 │    ├── OffsetMismatch          upload-offset-mismatch     (Upload-Offset is not ours)
 │    └── UploadCompleted         upload-completed           (no more writes, no DELETE)
 ├── PayloadTooLarge (kit)    413
 │    └── UploadTooLarge          upload-too-large           (past Upload-Length/Tus-Max-Size)
 └── UnsupportedMediaType     415  (a PATCH body that is not application/offset+octet-stream)
"""

from __future__ import annotations

from v100.kit.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, ProblemError

__all__ = [
    "ChecksumMismatch",
    "InvalidTusRequest",
    "OffsetMismatch",
    "TusUploadNotFound",
    "TusVersionUnsupported",
    "UploadCompleted",
    "UploadGone",
    "UploadLocked",
    "UploadTooLarge",
]


class TusVersionUnsupported(ProblemError):
    status = 412
    slug = "tus-version-unsupported"
    title = "Unsupported tus protocol version"


class ChecksumMismatch(ProblemError):
    # 460 is tus's own code (checksum extension); the chunk it names was discarded.
    status = 460
    slug = "checksum-mismatch"
    title = "Checksum mismatch"


class UploadLocked(ProblemError):
    status = 423
    slug = "upload-locked"
    title = "Upload is being written by another request"


class UploadGone(ProblemError):
    status = 410
    slug = "upload-expired"
    title = "Upload expired"


class InvalidTusRequest(BadRequest):
    slug = "invalid-tus-request"
    title = "Invalid tus request"


class OffsetMismatch(Conflict):
    slug = "upload-offset-mismatch"
    title = "Upload-Offset does not match the upload's offset"


class UploadCompleted(Conflict):
    slug = "upload-completed"
    title = "Upload already completed"


class UploadTooLarge(PayloadTooLarge):
    slug = "upload-too-large"
    title = "Upload too large"


class TusUploadNotFound(NotFound):
    slug = "upload-not-found"
    title = "Upload not found"
