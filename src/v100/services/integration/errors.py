"""integration's problems (RFC 9457 types under ``/problems/``):

EndpointNotFound        404  not-found
MessageNotFound         404  not-found
EndpointDisabled        409  endpoint-disabled     (a test event to a disabled endpoint)
UrlNotAllowed           400  url-not-allowed       (kit.fetch's: an endpoint URL with a bad
                                                     scheme, or resolving to a private,
                                                     loopback or link-local address)
UrlFetchFailed          502  url-fetch-failed      (kit.fetch's: its host does not resolve)
ReplayRangeInvalid      422  replay-range-invalid  (``until`` before ``since``, or a range
                                                     longer than the retention)
"""

from __future__ import annotations

from v100.kit.errors import Conflict, NotFound, ValidationFailed

__all__ = [
    "EndpointDisabled",
    "EndpointNotFound",
    "GroupExists",
    "GroupNotFound",
    "MessageNotFound",
    "ReplayRangeInvalid",
]


class GroupNotFound(NotFound):
    title = "No such consumer group"


class GroupExists(Conflict):
    slug = "group-exists"
    title = "A consumer group with this name exists"


class EndpointDisabled(Conflict):
    slug = "endpoint-disabled"
    title = "The webhook endpoint is disabled"


class EndpointNotFound(NotFound):
    title = "No such webhook endpoint"


class MessageNotFound(NotFound):
    title = "No such message"


class ReplayRangeInvalid(ValidationFailed):
    slug = "replay-range-invalid"
    title = "The time range is not valid"
