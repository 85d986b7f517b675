"""How the Training Sandbox decides whether an answer states an expected fact, and no more than
that: both are normalised (Unicode compatibility forms, accents dropped, case folded, every run
of characters that are not letters or digits made one space) and the fact must appear in the
answer as a whole run of words. "Paris" is found in "It's PARIS." and "Montréal" in "montreal";
"3 days" is not found in "three days", nor is a paraphrase. A check of words, not of meaning:
stated as such wherever results are shown (docs/ai-orchestration.md)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = ["check_facts", "normalise"]

_NOT_WORD = re.compile(r"[^0-9a-z]+")


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return _NOT_WORD.sub(" ", bare).strip()


def check_facts(answer: str, facts: Sequence[str]) -> tuple[list[str], list[str]]:
    """The facts the answer states, and those it does not, each in the order given."""
    said = f" {normalise(answer)} "
    found: list[str] = []
    missing: list[str] = []
    for fact in facts:
        (found if f" {normalise(fact)} " in said else missing).append(fact)
    return found, missing
