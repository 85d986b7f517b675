"""Text that people send, as request bodies take it: ``Line`` (a name, a title, a reason) refuses
NUL and every other control character; ``Paragraphs`` (a description) allows tab and line breaks
but no other control. A bad character is a 422 naming the field, never stored. Use them under
the field's own limits: ``Annotated[Line, Field(min_length=1, max_length=200)]``."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["BIDI_CONTROLS", "Line", "Paragraphs"]

# C0 controls, DEL and the C1 block.
_LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_PARAGRAPH_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Characters that reorder how text is shown (U+202E turns "gpj.exe" into "exe.jpg"): dropped
# where a name reaches a file name (kit.storage.content_disposition).
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _line(value: str) -> str:
    if _LINE_CONTROLS.search(value):
        raise ValueError("must not contain control characters (NUL, line breaks, ...)")
    return value


def _paragraphs(value: str) -> str:
    if _PARAGRAPH_CONTROLS.search(value):
        raise ValueError("must not contain control characters other than tab and line breaks")
    return value


Line = Annotated[str, AfterValidator(_line)]
Paragraphs = Annotated[str, AfterValidator(_paragraphs)]
