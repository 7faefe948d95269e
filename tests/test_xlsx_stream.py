"""The streamed text-sheet writer behind the activation export: what goes in comes back."""

from __future__ import annotations

from openpyxl import load_workbook

from desk.xlsx_stream import write_text_sheet


def written(rows, headers=("甲", "乙")):
    with write_text_sheet(title="表", headers=headers, widths=[10] * len(headers), rows=rows) as f:
        return load_workbook(f).active


def test_markup_characters_come_back_as_written():
    sheet = written([["<b>&amp;</b>", "a > b & c"]])
    assert [cell.value for cell in sheet[2]] == ["<b>&amp;</b>", "a > b & c"]


def test_characters_xml_cannot_hold_are_dropped_not_fatal():
    sheet = written([["张\x00三\x1f", "ok"]])
    assert sheet["A2"].value == "张三"


def test_a_formula_like_value_stays_text_with_the_quote_prefix():
    sheet = written([['=HYPERLINK("x")', "310109200806061614"]])
    assert sheet["A2"].data_type == "s" and sheet["A2"].quotePrefix
    assert sheet["B2"].value == "310109200806061614" and not sheet["B2"].quotePrefix


def test_an_empty_export_has_its_header_row_only():
    sheet = written([])
    assert [[cell.value for cell in row] for row in sheet.iter_rows()] == [["甲", "乙"]]
