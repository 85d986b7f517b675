"""What identity's endpoints are given, typed: the ``Identity`` the app built and the sign-in
attempt limits (``AuthThrottle``), both provided at start-up by ``gateway/app.py``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.http import Provided
from v100.services.gateway.identity.auth_throttle import AuthThrottle
from v100.services.gateway.identity.service import Identity

__all__ = ["IdentityDep", "ThrottleDep"]

IdentityDep = Annotated[Identity, Depends(Provided(Identity))]
ThrottleDep = Annotated[AuthThrottle, Depends(Provided(AuthThrottle))]
