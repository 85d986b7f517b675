"""Cutting a document into chunks for retrieval, by tokens (cl100k or o200k counts from
``quicktok``, the same ids as tiktoken's, with its tables inside the package), along the
document's own structure: a chunk never spans two sections (blocks under different headings)
nor two pages (so a citation names one page), packs whole paragraphs where they fit, else whole
sentences, and only cuts inside a sentence longer than a chunk. Consecutive chunks of a section
overlap by whole sentences, up to ``overlap`` tokens, so a fact cut at a boundary is still whole
in one of them. Every chunk keeps where it came from: its heading path, its page, its position.

    blocks = [Block("Intro...", headings=("Guide",)), Block("More...", ("Guide", "Setup"), page=2)]
    for chunk in chunk_blocks(blocks, ChunkingOptions(max_tokens=200, overlap=40)):
        chunk.text, chunk.tokens, chunk.headings, chunk.page, chunk.position
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

__all__ = ["Block", "Chunk", "ChunkingOptions", "chunk_blocks", "count_tokens", "split_sentences"]

Encoding = Literal["cl100k_base", "o200k_base"]

# A sentence ends at . ! ? (and their closing quotes or brackets) followed by white space; a
# paragraph at a blank line.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass(frozen=True, slots=True)
class Block:
    """A run of text under one heading path (outermost first), on one page (PDF), in order."""

    text: str
    headings: tuple[str, ...] = ()
    page: int | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    tokens: int
    position: int  # 0, 1, ... in document order
    headings: tuple[str, ...]
    page: int | None  # the page the chunk is on


@dataclass(frozen=True, slots=True)
class ChunkingOptions:
    max_tokens: int = 200
    overlap: int = 40
    encoding: Encoding = "cl100k_base"

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise ValueError("max_tokens must be at least 16")
        if not 0 <= self.overlap <= self.max_tokens // 2:
            raise ValueError("overlap must be between 0 and half of max_tokens")


@cache
def _encoding(name: Encoding) -> Any:
    import quicktok

    return quicktok.get_encoding(name)


def count_tokens(text: str, encoding: Encoding = "cl100k_base") -> int:
    return int(_encoding(encoding).count(text))


def split_sentences(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text)) if s]


@dataclass(frozen=True, slots=True)
class _Piece:
    """A sentence (or a cut of one), with its paragraph's index, page and token count."""

    text: str
    tokens: int
    paragraph: int
    page: int | None


def chunk_blocks(blocks: Iterable[Block], options: ChunkingOptions | None = None) -> list[Chunk]:
    options = options or ChunkingOptions()
    chunks: list[Chunk] = []
    for headings, pieces in _sections(blocks, options):
        for text, tokens, page in _pack(pieces, options):
            chunks.append(Chunk(text, tokens, len(chunks), headings, page))
    return chunks


def _sections(
    blocks: Iterable[Block], options: ChunkingOptions
) -> Iterator[tuple[tuple[str, ...], list[_Piece]]]:
    """Consecutive blocks under the same headings on the same page, as pieces no longer than
    a chunk."""
    headings: tuple[str, ...] | None = None
    page: int | None = None
    pieces: list[_Piece] = []
    paragraph = 0
    for block in blocks:
        if block.headings != headings or block.page != page:
            if pieces:
                assert headings is not None
                yield headings, pieces
            headings, page, pieces = block.headings, block.page, []
        for text in _PARAGRAPH_BREAK.split(block.text):
            sentences = split_sentences(" ".join(text.split()))
            if not sentences:
                continue
            paragraph += 1
            for sentence in sentences:
                for cut, tokens in _cut(sentence, options):
                    pieces.append(_Piece(cut, tokens, paragraph, block.page))
    if pieces:
        assert headings is not None
        yield headings, pieces


def _cut(sentence: str, options: ChunkingOptions) -> Iterator[tuple[str, int]]:
    """A sentence as is, or, when longer than a chunk, cut at token boundaries."""
    encoding = _encoding(options.encoding)
    ids = encoding.encode(sentence)
    if len(ids) <= options.max_tokens:
        yield sentence, len(ids)
        return
    first = 0
    while first < len(ids):
        # Decoded and counted again, a cut may take a token more (merges across its edge).
        size = options.max_tokens
        while True:
            part = encoding.decode(ids[first : first + size]).strip()
            tokens = count_tokens(part, options.encoding)
            if tokens <= options.max_tokens or size == 1:
                break
            size -= 1
        if part:
            yield part, tokens
        first += size


def _pack(
    pieces: Sequence[_Piece], options: ChunkingOptions
) -> Iterator[tuple[str, int, int | None]]:
    """Greedy packing of whole pieces; paragraphs are joined by a blank line, sentences by a
    space. The next chunk starts with the last sentences of this one, up to ``overlap``."""
    start = 0
    while start < len(pieces):
        end, used = start, 0
        while end < len(pieces) and (
            end == start or used + pieces[end].tokens <= options.max_tokens
        ):
            used += pieces[end].tokens
            end += 1
        # The separators' tokens are not in ``used``: the joined text is counted again.
        chosen = list(pieces[start:end])
        text = _join(chosen)
        tokens = count_tokens(text, options.encoding)
        while tokens > options.max_tokens and len(chosen) > 1:
            chosen.pop()
            text = _join(chosen)
            tokens = count_tokens(text, options.encoding)
        end = start + len(chosen)
        yield text, tokens, chosen[0].page
        if end >= len(pieces):
            return
        back, kept = end, 0
        while back - 1 > start and kept + pieces[back - 1].tokens <= options.overlap:
            back -= 1
            kept += pieces[back].tokens
        start = back


def _join(pieces: Sequence[_Piece]) -> str:
    parts: list[str] = []
    for index, piece in enumerate(pieces):
        if index:
            parts.append("\n\n" if piece.paragraph != pieces[index - 1].paragraph else " ")
        parts.append(piece.text)
    return "".join(parts)
