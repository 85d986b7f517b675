"""The words of a full-text query, shared by both backends: lower-cased word characters, common
English function words dropped, each once, at most ``MAX_TERMS``. The backends match any of them
(OR) and rank by how well a passage covers them, as BM25 does; an all-words (AND) match would
find nothing for most questions people type."""

from __future__ import annotations

import re

__all__ = ["MAX_TERMS", "query_terms"]

MAX_TERMS = 64
_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not of off on once only or other our ours out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves""".split()  # noqa: SIM905
)


def query_terms(text: str) -> list[str]:
    terms: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if word not in _STOPWORDS and word != "_":
            terms.setdefault(word)
    return list(terms)[:MAX_TERMS]
