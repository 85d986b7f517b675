"""Invoices as PDF, drawn with fpdf2 (pure Python): the invoice number, period, plan, status, one
row per line (description, meter, quantity, events, amount) and the total.

Text is set in DejaVu Sans when the system has it (any Unicode a tenant puts in a plan name);
otherwise in the PDF core font Helvetica, which covers Latin-1 only, so other characters print
as "?" there (the JSON and HTML forms keep them). Rendering is CPU work: callers run it in a
thread, off the event loop. fpdf2 is imported on first use (seconds on a busy machine), so it
does not slow the service's start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from v100.services.billing_engine.currencies import format_amount
from v100.services.billing_engine.schemas import InvoiceOut

if TYPE_CHECKING:
    from fpdf import FPDF

__all__ = ["PDF_MEDIA_TYPE", "render_pdf"]

PDF_MEDIA_TYPE = "application/pdf"

_UNICODE_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
# Column widths in millimetres on A4 (190 mm between the margins).
_COLUMNS = ((86, "Description", "LEFT"), (30, "Meter", "LEFT"), (26, "Quantity", "RIGHT"),
            (16, "Events", "RIGHT"), (32, "Amount", "RIGHT"))  # fmt: skip


class _Document:
    def __init__(self) -> None:
        from fpdf import FPDF

        self.pdf: FPDF = FPDF(format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.set_margins(10, 12, 10)
        font = next((path for path in _UNICODE_FONTS if path.is_file()), None)
        if font is not None:
            self.pdf.add_font("Body", "", str(font))
            self.family, self.unicode = "Body", True
        else:
            self.family, self.unicode = "Helvetica", False
        self.pdf.add_page()

    def text(self, value: str) -> str:
        return value if self.unicode else value.encode("latin-1", "replace").decode("latin-1")

    def line(self, value: str, *, size: float = 10, height: float = 6) -> None:
        from fpdf.enums import XPos, YPos

        self.pdf.set_font(self.family, size=size)
        self.pdf.multi_cell(0, height, self.text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def table(self, rows: list[list[str]]) -> None:
        """The lines, wrapped within their columns (nothing is cut off)."""
        from fpdf.fonts import FontFace

        self.pdf.set_font(self.family, size=9)
        with self.pdf.table(
            col_widths=[width for width, _, _ in _COLUMNS],
            text_align=[align for _, _, align in _COLUMNS],
            first_row_as_headings=True,
            headings_style=FontFace(emphasis=None, fill_color=(235, 235, 235)),
            line_height=6,
        ) as table:
            for cells in [[title for _, title, _ in _COLUMNS], *rows]:
                row = table.row()
                for value in cells:
                    row.cell(self.text(value))


def render_pdf(invoice: InvoiceOut) -> bytes:
    """The invoice as a one-document PDF (several pages when its lines need them)."""
    doc = _Document()
    doc.pdf.set_title(f"Invoice {invoice.id}")
    doc.pdf.set_creator("V100 billing_engine")
    doc.line(f"Invoice {invoice.id}", size=16, height=9)
    doc.line(f"Plan: {invoice.plan_code}")
    doc.line(
        f"Period: {invoice.period_start:%Y-%m-%d %H:%M} to {invoice.period_end:%Y-%m-%d %H:%M} UTC"
    )
    doc.line(f"Issued: {invoice.created_at:%Y-%m-%d}    Status: {invoice.status}")
    doc.pdf.ln(4)
    doc.table(
        [
            [
                line.description,
                line.meter_code or "",
                "" if line.quantity is None else format(line.quantity.normalize(), "f"),
                "" if line.event_count is None else str(line.event_count),
                format_amount(line.amount, invoice.currency),
            ]
            for line in invoice.lines
        ]
    )
    doc.pdf.ln(2)
    doc.line(f"Total: {format_amount(invoice.total, invoice.currency)}", size=12, height=8)
    return bytes(doc.pdf.output())
