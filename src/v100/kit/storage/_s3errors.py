"""How S3 failures read in the kit's terms: botocore and aiohttp exceptions become
``ObjectNotFound``, ``UploadNotFound``, ``RangeNotSatisfiable``, ``InvalidPart`` or the kit's
``BackendUnavailable``. botocore is imported only once a failure has to be read."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from v100.kit.errors import BackendUnavailable, ProblemError
from v100.kit.storage._errors import (
    InvalidPart,
    ObjectNotFound,
    RangeNotSatisfiable,
    UploadNotFound,
)

__all__ = ["translated_errors"]

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_BAD_PART = {"InvalidPart", "InvalidPartOrder", "EntityTooSmall"}
_REFUSED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket"}


def _translate(exc: Exception, what: str) -> Exception:
    """The kit error for a botocore/aiohttp failure, or ``exc`` itself when it means a bug."""
    import aiohttp
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code in _NOT_FOUND:
            return ObjectNotFound(f"no object {what!r}")
        if code == "NoSuchUpload":
            return UploadNotFound(f"no upload for {what!r}")
        if code == "InvalidRange" or status == 416:
            return RangeNotSatisfiable(f"range outside {what!r}")
        if code in _BAD_PART:
            return InvalidPart(f"{code}: {exc.response.get('Error', {}).get('Message', '')}")
        if code in _REFUSED or status >= 500:
            return BackendUnavailable(f"object storage refused the request: {code or status}")
        return exc
    if isinstance(exc, BotoCoreError | aiohttp.ClientError | TimeoutError):
        return BackendUnavailable(f"object storage unreachable: {type(exc).__name__}")
    return exc


@contextlib.contextmanager
def translated_errors(what: str) -> Iterator[None]:
    try:
        yield
    except ProblemError:
        raise
    except Exception as exc:
        mapped = _translate(exc, what)
        if mapped is exc:
            raise
        raise mapped from exc
