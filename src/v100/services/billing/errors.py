"""billing's problems (RFC 9457 types under ``/problems/``):

InsufficientCredits     409  insufficient-credits   (the balance cannot cover a charge or hold)
CaptureExceedsHold      409  capture-exceeds-hold   (more captured than was held)
HoldClosed              409  hold-closed            (captured, released or expired already)
"""

from __future__ import annotations

from v100.kit.errors import Conflict

__all__ = ["CaptureExceedsHold", "HoldClosed", "InsufficientCredits"]


class InsufficientCredits(Conflict):
    slug = "insufficient-credits"
    title = "Insufficient credits"


class CaptureExceedsHold(Conflict):
    slug = "capture-exceeds-hold"
    title = "Capture exceeds the hold"


class HoldClosed(Conflict):
    slug = "hold-closed"
    title = "The hold is no longer open"
