"""One rule for every spreadsheet the site hands out: no cell can run as a formula.

A cell whose text starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to
Excel, WPS and LibreOffice when it is typed, pasted or opened from CSV ("CSV injection"). A name
stored as `=HYPERLINK("http://…")` must reach the filer's screen as those characters.

- In .xlsx files every value is written as a string cell, and such a cell also gets the
  "quote prefix" style (what Excel records when a user types a leading `'`): the value stays
  exactly what was stored, is shown as text, and stays text when the cell is edited.
- CSV and TSV have no cell types, so such a value is written with a leading `'` (OWASP's
  advice). A visible quote was chosen over an invisible zero-width character: a reader sees that
  the value was guarded, and nobody copies an ID number or phone with a hidden character in it.
  `"-"` becomes `"'-"`; the admin import takes one such quote off again (`strip_guard`), so an
  exported file imports back unchanged.
"""

from __future__ import annotations

from openpyxl.cell import WriteOnlyCell

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_GUARD = "'"


def looks_like_formula(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)


def inert_csv_text(value: object) -> str:
    """A value for a CSV/TSV cell that no spreadsheet program evaluates."""
    text = "" if value is None else str(value)
    return CSV_GUARD + text if looks_like_formula(text) else text


def strip_guard(text: str) -> str:
    """Undo `inert_csv_text` on a value read back from a CSV/TSV export."""
    if text.startswith(CSV_GUARD) and looks_like_formula(text[1:]):
        return text[1:]
    return text


def make_inert(cell: object) -> None:
    """The same for a cell of an ordinary (not write-only) openpyxl sheet."""
    if isinstance(cell.value, str):
        cell.data_type = "s"
        if looks_like_formula(cell.value):
            cell.quotePrefix = True


def inert_xlsx_cell(sheet: object, text: str | None) -> WriteOnlyCell:
    """A string cell holding exactly `text`, never a formula, even after it is edited."""
    cell = WriteOnlyCell(sheet, value=text)
    make_inert(cell)  # openpyxl would otherwise store "=…" as a formula
    return cell
