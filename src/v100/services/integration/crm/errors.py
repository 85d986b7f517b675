"""The CRM's problems (RFC 9457 types under ``/problems/``):

ConnectionNotFound       404  not-found
ContactNotFound          404  not-found
OAuthStateInvalid        400  oauth-state-invalid     (a callback whose ``state`` is unknown,
                                                       expired or already used)
AuthorizationDenied      400  authorization-denied    (the vendor answered ``error=...``, or
                                                       refused the code)
ReauthorizationRequired  409  reauthorization-required (the vendor refused the refresh token:
                                                       authorize the connection again)
VendorUnavailable        502  vendor-unavailable      (the CRM did not answer, or failed)
NotConfigured            501  not-configured          (kit's: the vendor's OAuth app is not set)
"""

from __future__ import annotations

from v100.kit.errors import BadRequest, Conflict, NotFound, ProblemError

__all__ = [
    "AuthorizationDenied",
    "ConnectionNotFound",
    "ContactNotFound",
    "OAuthStateInvalid",
    "ReauthorizationRequired",
    "VendorUnavailable",
]


class ConnectionNotFound(NotFound):
    title = "No such CRM connection"


class ContactNotFound(NotFound):
    title = "No such CRM contact"


class OAuthStateInvalid(BadRequest):
    slug = "oauth-state-invalid"
    title = "The OAuth state is not valid"


class AuthorizationDenied(BadRequest):
    slug = "authorization-denied"
    title = "The CRM did not grant access"


class ReauthorizationRequired(Conflict):
    slug = "reauthorization-required"
    title = "The CRM connection must be authorized again"


class VendorUnavailable(ProblemError):
    status = 502
    slug = "vendor-unavailable"
    title = "The CRM did not answer"
