"""The citation markers of an LLM's answer, checked as its text arrives: ``[n]`` (or ``[n, m]``)
names passage ``n`` of the ``count`` given. A number in range is kept and recorded (in the
order first cited); one out of range (a passage the model invented) is taken out of the text
and reported; a marker left with no number is removed whole. Text that might still become a
marker (``[1`` at the end of a delta) is held back until it is decided, so a streamed answer
never shows a number that the whole answer would not; brackets holding anything else are
text."""

from __future__ import annotations

import re

__all__ = ["CitationFilter"]

_MARKER = re.compile(r"\[(\d{1,4}(?:\s*,\s*\d{1,4})*)\]")
# What an undecided marker may hold; longer, or anything else, and it is text.
_OPENING = re.compile(r"\[[\d,\s]{0,40}")


class CitationFilter:
    def __init__(self, count: int) -> None:
        self.count = count
        self.cited: list[int] = []
        self.invented: list[int] = []
        self._held = ""

    def feed(self, text: str) -> str:
        """The text that can be shown now (markers checked); the rest is held."""
        text = self._held + text
        self._held = ""
        out: list[str] = []
        position = 0
        while True:
            start = text.find("[", position)
            if start < 0:
                # Trailing spaces wait for what follows: they go if a marker taken out does.
                rest = text[position:]
                kept = rest.rstrip()
                out.append(kept)
                self._held = rest[len(kept) :]
                break
            before = text[position:start]
            marker = _MARKER.match(text, start)
            if marker is not None:
                kept = self._kept(marker.group(1))
                # A marker taken out whole takes the space before it along.
                out.append(before + kept if kept else before.rstrip())
                position = marker.end()
                continue
            opening = _OPENING.match(text, start)
            assert opening is not None
            if opening.end() == len(text):  # may still close: wait for the next delta
                spaced = len(before) - len(before.rstrip())
                out.append(before[: len(before) - spaced])
                self._held = text[start - spaced :]
                break
            out.append(before + "[")
            position = start + 1
        return "".join(out)

    def flush(self) -> str:
        """What is held at the end of the answer (an unclosed ``[`` is text)."""
        held, self._held = self._held, ""
        return held

    def _kept(self, numbers: str) -> str:
        kept: list[int] = []
        for part in numbers.split(","):
            number = int(part)
            if 1 <= number <= self.count:
                if number not in kept:
                    kept.append(number)
                if number not in self.cited:
                    self.cited.append(number)
            elif number not in self.invented:
                self.invented.append(number)
        return "".join(f"[{number}]" for number in kept)
