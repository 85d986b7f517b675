"""The citation markers of an LLM's answer, checked as the text arrives: numbers in range are
kept and recorded, invented ones taken out (with the space before them) and reported, a
marker split over deltas is held until decided, brackets that hold no numbers are text."""

from __future__ import annotations

import pytest

from v100.services.rag_engine.citations import CitationFilter


def run(count: int, deltas: list[str]) -> tuple[list[str], CitationFilter]:
    markers = CitationFilter(count)
    shown = [markers.feed(delta) for delta in deltas] + [markers.flush()]
    return shown, markers


@pytest.mark.parametrize(
    ("deltas", "text", "cited", "invented"),
    [
        (["Thirty days [1]."], "Thirty days [1].", [1], []),
        (["A [2][1] b [2]."], "A [2][1] b [2].", [2, 1], []),
        (["A [1, 3] b."], "A [1][3] b.", [1, 3], []),
        (["A [4] b [0]."], "A b.", [], [4, 0]),
        (["A [1, 1, 2]."], "A [1][2].", [1, 2], []),
        (["A [1, 4]."], "A [1].", [1], [4]),
        (["A [", "1", "] b"], "A [1] b", [1], []),
        (["A ", "[9", "]."], "A.", [], [9]),
        (["see [x] and arr[2]"], "see [x] and arr[2]", [2], []),
        (["unclosed [1"], "unclosed [1", [], []),
        (["[" + "1 " * 30, "]"], "[" + "1 " * 30 + "]", [], []),
    ],
)
def test_markers(deltas: list[str], text: str, cited: list[int], invented: list[int]) -> None:
    shown, markers = run(3, deltas)
    assert "".join(shown) == text
    assert markers.cited == cited
    assert markers.invented == invented


def test_a_split_marker_is_never_shown_in_part() -> None:
    shown, _ = run(3, ["Thirty days [", "1", "] and never [1", "2]."])
    assert shown == ["Thirty days", "", " [1] and never", ".", ""]
