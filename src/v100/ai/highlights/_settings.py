"""What a caller asks for (``HighlightRequest``: how many, how long, about what) and the
settings a deployment keeps (``HighlightSettings``: the factors' weights and the edit rules),
each checked when made so a bad value is refused, not silently corrected."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

__all__ = [
    "FACTORS",
    "TEXT_FACTORS",
    "FactorName",
    "FactorWeights",
    "HighlightRequest",
    "HighlightSettings",
]

FactorName = Literal["hook", "emotion", "information", "narrative", "visual", "relevance"]
FACTORS: tuple[FactorName, ...] = (
    "hook", "emotion", "information", "narrative", "visual", "relevance",
)  # fmt: skip
# What an LLM reading the words may refine (it does not see the picture).
TEXT_FACTORS: tuple[FactorName, ...] = ("hook", "emotion", "information", "narrative", "relevance")


@dataclass(frozen=True, slots=True)
class FactorWeights:
    """Each factor's weight in the total (the total divides by their sum)."""

    hook: float = 0.20
    emotion: float = 0.15
    information: float = 0.20
    narrative: float = 0.20
    visual: float = 0.10
    relevance: float = 0.15

    def __post_init__(self) -> None:
        values = [getattr(self, f.name) for f in fields(self)]
        if any(value < 0 for value in values) or sum(values) <= 0:
            raise ValueError("factor weights must be at least 0 and not all 0")

    def of(self, name: FactorName) -> float:
        return float(getattr(self, name))


@dataclass(frozen=True, slots=True)
class HighlightSettings:
    weights: FactorWeights = field(default_factory=FactorWeights)
    # The hook is what is said and heard in a clip's first seconds.
    hook_seconds: float = 3.0
    # A cut at most this long before a sentence starts, with no word between, opens the clip
    # (the picture changes with the first words); likewise after its last word to close it.
    cut_snap: float = 1.0
    # Otherwise a clip opens this long before its first word and closes this long after its
    # last, as far as the silence around them allows.
    lead: float = 0.2
    tail: float = 0.3
    # The LLM's reply budget for one call (all highlights of a video).
    llm_max_tokens: int = 3000

    def __post_init__(self) -> None:
        if self.hook_seconds <= 0 or min(self.cut_snap, self.lead, self.tail) < 0:
            raise ValueError("hook_seconds must be positive; cut_snap, lead and tail at least 0")


@dataclass(frozen=True, slots=True)
class HighlightRequest:
    count: int = 5
    min_duration: float = 15.0
    max_duration: float = 60.0
    # Topics the clips should be about: words or phrases, matched on stems.
    keywords: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if not 0 < self.min_duration <= self.max_duration:
            raise ValueError("durations must satisfy 0 < min_duration <= max_duration")
