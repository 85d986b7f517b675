"""Text people send (``kit.text``) and the file names it becomes (``content_disposition``): no
control character is taken, and no bidi override reaches a download's name."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from v100.kit.storage import content_disposition
from v100.kit.text import Line, Paragraphs


class Body(BaseModel):
    name: Line | None = None
    notes: Paragraphs | None = None


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a\x00b"},
        {"name": "two\nlines"},
        {"name": "tab\there"},
        {"name": "del\x7f"},
        {"name": "c1\x85"},
        {"notes": "nul \x00"},
        {"notes": "escape \x1b[31m"},
    ],
)
def test_control_characters_are_refused(body: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="control characters"):
        Body.model_validate(body)


def test_ordinary_text_passes() -> None:
    body = Body(name="Ada's \u00e9t\u00e9 \U0001f3ac", notes="first\n\tsecond\r\nthird")
    assert body.notes == "first\n\tsecond\r\nthird"


def test_a_download_name_loses_bidi_overrides_and_controls() -> None:
    # U+202E shows "invoice\u202egpj.exe" as "invoiceexe.jpg".
    header = content_disposition("invoice\u202egpj.exe\x00")
    assert "\u202e" not in header
    assert "%E2%80%AE" not in header
    assert 'filename="invoicegpj.exe"' in header
    assert content_disposition("\u202e") == (
        "attachment; filename=\"download\"; filename*=UTF-8''download"
    )
