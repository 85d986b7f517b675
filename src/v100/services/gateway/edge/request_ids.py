"""Request ids for the answers the gateway's protocol makes itself (the hit path's and the
proxied path's) when the caller sent none: 32 hex characters like ``uuid4().hex``, as the kit's
request-context middleware makes them, without a system call per request."""

from __future__ import annotations

import itertools
import os
import re

__all__ = ["REQUEST_ID", "request_ids"]

# What the kit's middleware accepts from a caller (its X-Request-Id, echoed).
REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


class _RequestIds:
    """A random per-process prefix and a counter, so unique without a system call per request
    (``os.urandom`` costs one). A forked child draws a prefix of its own."""

    def __init__(self) -> None:
        self._restart()
        os.register_at_fork(after_in_child=self._restart)

    def _restart(self) -> None:
        self._prefix = os.urandom(8).hex().encode()
        self._counter = itertools.count()

    def next(self) -> bytes:
        return b"%s%016x" % (self._prefix, next(self._counter))


request_ids = _RequestIds()
