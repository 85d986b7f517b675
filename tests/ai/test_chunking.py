"""Chunking by tokens along the document's structure: sections never mixed, whole paragraphs
and sentences kept, overlap by whole sentences, long sentences cut, no text lost, every chunk
within its token budget (a property checked over generated documents)."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v100.ai.chunking import Block, ChunkingOptions, chunk_blocks, count_tokens, split_sentences


def sentence(n: int) -> str:
    return f"Sentence number {n} talks about topic {n} in a few plain words."


def test_sections_are_never_mixed_and_keep_their_headings_and_pages() -> None:
    blocks = [
        Block(" ".join(sentence(i) for i in range(3)), headings=("Guide",), page=1),
        Block(" ".join(sentence(i) for i in range(3, 40)), headings=("Guide", "Setup"), page=1),
        Block(sentence(40), headings=("Guide", "Setup"), page=2),
        Block(sentence(41), headings=("FAQ",), page=3),
    ]
    chunks = chunk_blocks(blocks, ChunkingOptions(max_tokens=64, overlap=16))
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert chunks[0].headings == ("Guide",)
    assert chunks[0].text.count("Sentence") == 3
    setup = [c for c in chunks if c.headings == ("Guide", "Setup")]
    assert len(setup) > 3
    assert "number 3 " in setup[0].text
    assert "number 40 " in setup[-1].text
    assert setup[-1].page == 2  # a new page starts a new chunk
    assert chunks[-1].headings == ("FAQ",)
    assert chunks[-1].page == 3
    assert chunks[-1].text == sentence(41)
    assert all(c.tokens <= 64 for c in chunks)


def test_neighbours_overlap_by_whole_sentences() -> None:
    text = " ".join(sentence(i) for i in range(30))
    chunks = chunk_blocks([Block(text)], ChunkingOptions(max_tokens=60, overlap=20))
    for first, second in itertools.pairwise(chunks):
        last = split_sentences(first.text)[-1]
        assert second.text.startswith(last), (first.text, second.text)
        assert all(s in text for s in split_sentences(second.text))  # whole sentences only


def test_paragraphs_are_packed_whole_and_kept_apart() -> None:
    text = "First paragraph. It is short.\n\nSecond paragraph here.\n\n\nThird one."
    (chunk,) = chunk_blocks([Block(text)])
    assert chunk.text == "First paragraph. It is short.\n\nSecond paragraph here.\n\nThird one."


def test_a_sentence_longer_than_a_chunk_is_cut_at_token_boundaries() -> None:
    long = "word " * 500
    chunks = chunk_blocks([Block(long.strip())], ChunkingOptions(max_tokens=100, overlap=0))
    assert len(chunks) == 5
    assert all(c.tokens <= 100 for c in chunks)
    assert sum(c.text.count("word") for c in chunks) == 500


def test_empty_and_blank_blocks_give_no_chunks_and_options_are_checked() -> None:
    assert chunk_blocks([Block(""), Block("  \n\n ")]) == []
    with pytest.raises(ValueError, match="at least 16"):
        ChunkingOptions(max_tokens=8)
    with pytest.raises(ValueError, match="half"):
        ChunkingOptions(max_tokens=100, overlap=60)
    assert count_tokens("Hello world") == 2
    assert count_tokens("Hello world", "o200k_base") == 2


_VOCABULARY = ["alpha", "Beta", "gamma", "x", "supercalifragilistic", "déjà", "vu", "42", "I"]
_words = st.lists(st.sampled_from(_VOCABULARY), min_size=1, max_size=30)
_sentences = _words.map(lambda words: " ".join(words) + ".")
_paragraphs = st.lists(_sentences, min_size=1, max_size=8).map(" ".join)
_blocks = st.lists(
    st.builds(
        Block,
        st.lists(_paragraphs, min_size=1, max_size=4).map("\n\n".join),
        st.sampled_from([(), ("A",), ("A", "B")]),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(_blocks, st.integers(16, 120), st.data())
def test_no_text_is_lost_and_every_chunk_fits(
    blocks: list[Block], max_tokens: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(0, max_tokens // 2))
    chunks = chunk_blocks(blocks, ChunkingOptions(max_tokens=max_tokens, overlap=overlap))
    assert all(0 < c.tokens <= max_tokens for c in chunks)
    assert all(c.tokens == count_tokens(c.text) for c in chunks)
    seen = " ".join(c.text for c in chunks)
    for block in blocks:
        for word in re.findall(r"\w+", block.text):
            assert word in seen
