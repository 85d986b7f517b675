"""Text language identification with py3langid."""

from __future__ import annotations

import pytest

from tests.ai.conftest import ENGLISH, GERMAN, SPANISH
from v100.ai.langid import identify_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (ENGLISH, "en"),
        (GERMAN, "de"),
        (SPANISH, "es"),
        ("Bonjour à tous, la réunion commence à trois heures.", "fr"),
        ("Добрый день, встреча начинается в три часа.", "ru"),
    ],
)
def test_languages(text: str, language: str) -> None:
    guess = identify_language(text)
    assert guess is not None
    assert guess.language == language
    assert 0.5 < guess.probability <= 1.0


def test_no_letters_no_guess() -> None:
    assert identify_language("") is None
    assert identify_language("12 345 -- !!") is None


def test_among_limits_the_answer_and_does_not_stick() -> None:
    guess = identify_language("Das ist gut", among=["en", "nl"])
    assert guess is not None
    assert guess.language in {"en", "nl"}
    after = identify_language(GERMAN)
    assert after is not None
    assert after.language == "de"
