"""A transcript (``contracts.transcripts.TranscriptDocument``, as transcription serves a completed
one) as a document: its paragraphs are the blocks chunked (or, without paragraphs, its
segments), and its ``Timeline`` gives each chunk the seconds it spans in the recording, from the
first to the last sentence it holds, so a citation can point at a moment of the video.

A chunk is found in the transcript's text with white space ignored, from where the previous one
was (consecutive chunks overlap); a chunk not found (a sentence cut mid-way by tokens differs
only in white space, so this is not expected) has no times rather than wrong ones."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from v100.ai.chunking import Block, Chunk
from v100.contracts.transcripts import TranscriptDocument

__all__ = ["Timeline", "transcript_blocks"]


def _normal(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Timeline:
    """The transcript's text with white space collapsed, and where each sentence is in it."""

    text: str
    offsets: list[int]  # where each sentence's text ends in ``text``, ascending
    starts: list[float]
    ends: list[float]

    @classmethod
    def of(cls, spans: Sequence[tuple[str, float, float]]) -> Timeline:
        text, offsets, starts, ends = "", [], [], []
        for words, start, end in spans:
            normal = _normal(words)
            if not normal:
                continue
            text = f"{text} {normal}" if text else normal
            offsets.append(len(text))
            starts.append(start)
            ends.append(end)
        return cls(text, offsets, starts, ends)

    def spans(self, chunks: Sequence[Chunk]) -> list[tuple[float, float] | None]:
        """The seconds each chunk spans (None: not found in the text)."""
        out: list[tuple[float, float] | None] = []
        cursor = 0
        for chunk in chunks:
            normal = _normal(chunk.text)
            at = self.text.find(normal, cursor)
            if at < 0:
                at = self.text.find(normal)
            if at < 0 or not normal:
                out.append(None)
                continue
            cursor = at
            first = bisect.bisect_right(self.offsets, at)
            last = bisect.bisect_left(self.offsets, at + len(normal))
            last = min(last, len(self.offsets) - 1)
            out.append((self.starts[first], self.ends[last]))
        return out


def transcript_blocks(data: bytes) -> tuple[list[Block], Timeline]:
    """The blocks to chunk and the timeline; ``ValueError`` for bytes that are no transcript
    document."""
    try:
        document = TranscriptDocument.model_validate_json(data)
    except ValidationError as exc:
        raise ValueError(f"not a transcript document ({exc.error_count()} errors)") from exc
    blocks: list[Block] = []
    spans: list[tuple[str, float, float]] = []
    if document.paragraphs:
        for paragraph in document.paragraphs:
            sentences = [(s.text, s.start, s.end) for s in paragraph.sentences]
            blocks.append(Block(" ".join(text for text, _, _ in sentences)))
            spans.extend(sentences)
    else:
        for segment in document.segments:
            blocks.append(Block(segment.text))
            spans.append((segment.text, segment.start, segment.end))
    return [block for block in blocks if block.text.strip()], Timeline.of(spans)
