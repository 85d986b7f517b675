"""Turning a document's bytes into ``v100.ai.chunking.Block`` runs of text, each with its heading
path and page: Markdown (ATX and setext headings, fenced code kept as text, link targets
dropped), HTML (the standard library's parser: headings h1-h6, block elements as paragraphs,
script/style/template and comments dropped), PDF (pypdf, one block per page), plain text and
transcripts (their paragraphs, with the timeline that gives each chunk its seconds:
``transcript_source``). Unreadable input raises ``DocumentFailed`` with the slug the document
shows."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from v100.ai.chunking import Block
from v100.services.rag_engine.errors import DocumentFailed
from v100.services.rag_engine.models import SourceFormat
from v100.services.rag_engine.transcript_source import Timeline, transcript_blocks

__all__ = ["Parsed", "parse"]

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Parsed:
    blocks: list[Block]
    title: str | None  # the document's first heading (or HTML <title>)
    pages: int | None  # a PDF's page count
    timeline: Timeline | None = None  # a transcript's: the seconds each chunk spans


def parse(data: bytes, source_format: str) -> Parsed:
    if source_format == SourceFormat.PDF:
        return _pdf(data)
    if source_format == SourceFormat.TRANSCRIPT:
        try:
            blocks, timeline = transcript_blocks(data)
        except ValueError as exc:
            raise DocumentFailed("document-unreadable", str(exc)) from exc
        return Parsed(blocks, None, None, timeline)
    text = _decoded(data)
    if source_format == SourceFormat.MARKDOWN:
        return _markdown(text)
    if source_format == SourceFormat.HTML:
        return _html(text)
    return Parsed([Block(text)], None, None)


def _decoded(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentFailed(
            "document-not-utf8", f"the text is not UTF-8 (a bad byte at offset {exc.start})"
        ) from exc


# --- Markdown ---------------------------------------------------------------------------------


def _markdown(text: str) -> Parsed:
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []  # (level, heading) from the outermost
    lines: list[str] = []
    title: str | None = None

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body:
            blocks.append(Block(body, tuple(heading for _, heading in path)))
        lines.clear()

    def heading(level: int, name: str) -> None:
        nonlocal title
        flush()
        while path and path[-1][0] >= level:
            path.pop()
        name = _inline(name).strip()
        if name:
            path.append((level, name))
            title = title or name

    fence: str | None = None
    for line in _HTML_COMMENT.sub("", text).splitlines():
        opened = _FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            else:
                lines.append(line)
            continue
        if opened:
            fence = opened.group(1)
            continue
        atx = _ATX.match(line)
        if atx:
            heading(len(atx.group(1)), atx.group(2) or "")
            continue
        setext = _SETEXT.match(line)
        if setext and lines and lines[-1].strip():
            name = lines.pop()
            heading(1 if setext.group(1)[0] == "=" else 2, name)
            continue
        lines.append(_inline(line))
    flush()
    return Parsed(blocks, title, None)


def _inline(line: str) -> str:
    return _LINK.sub(r"\1", line)


# --- HTML -------------------------------------------------------------------------------------

_SKIPPED = frozenset({"script", "style", "template", "noscript", "svg", "head"})
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_BLOCKS = frozenset(
    {"p", "div", "li", "ul", "ol", "br", "tr", "td", "th", "table", "section", "article",
     "blockquote", "pre", "header", "footer", "main", "nav", "aside", "dd", "dt", "hr",
     "figure", "figcaption", "form"}
)  # fmt: skip


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.title: str | None = None
        self._path: list[tuple[int, str]] = []
        self._text: list[str] = []
        self._skipping = 0
        self._heading: tuple[int, list[str]] | None = None
        self._in_title = False
        self._page_title: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag in _HEADINGS:
            self._flush()
            self._heading = (_HEADINGS[tag], [])
        elif tag in _BLOCKS:
            self._text.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _HEADINGS and self._heading is not None:
            level, parts = self._heading
            self._heading = None
            name = " ".join("".join(parts).split())
            while self._path and self._path[-1][0] >= level:
                self._path.pop()
            if name:
                self._path.append((level, name))
                self.title = self.title or name
        elif tag in _BLOCKS:
            self._text.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._page_title.append(data)
        if self._skipping:
            return
        if self._heading is not None:
            self._heading[1].append(data)
        else:
            self._text.append(data)

    def _flush(self) -> None:
        paragraphs = (" ".join(part.split()) for part in "".join(self._text).split("\n\n"))
        body = "\n\n".join(paragraph for paragraph in paragraphs if paragraph)
        if body:
            self.blocks.append(Block(body, tuple(name for _, name in self._path)))
        self._text.clear()

    def result(self) -> Parsed:
        self.close()
        self._flush()
        page_title = " ".join("".join(self._page_title).split()) or None
        return Parsed(self.blocks, page_title or self.title, None)


def _html(text: str) -> Parsed:
    parser = _HtmlText()
    parser.feed(text)
    return parser.result()


# --- PDF --------------------------------------------------------------------------------------


def _pdf(data: bytes) -> Parsed:
    # pypdf is imported on first use: a deployment without it fails PDFs only, clearly.
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError as exc:
        raise DocumentFailed("pdf-unsupported", "PDF files cannot be read here (no pypdf)") from exc
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentFailed("pdf-encrypted", "the PDF is encrypted")
        texts = [page.extract_text() or "" for page in reader.pages]
        metadata = reader.metadata
        title = None if metadata is None or not metadata.title else str(metadata.title)
    except DocumentFailed:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentFailed("document-unreadable", f"the PDF cannot be read: {exc}"[:300]) from exc
    blocks = [Block(text, (), page) for page, text in enumerate(texts, start=1) if text.strip()]
    title = " ".join((title or "").split())[:200] or None
    return Parsed(blocks, title, len(texts))
