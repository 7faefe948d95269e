"""Hostile spreadsheets: each is refused by `enrollment.spreadsheets` before a parser sees it,
quickly (it stops at the limit) and with bounded memory; a reader that dies anyway is contained.
"""

from __future__ import annotations

import os
import signal
import sys
import tracemalloc
from unittest import mock

import pytest

from enrollment import hostile, spreadsheets
from enrollment.demo import demo_rows, roster_workbook
from enrollment.workbooks import build_template

MB = 1024 * 1024
# What the inspection may hold at once: a chunk of XML, the window, the zip's buffers.
INSPECTION_HEAP_LIMIT = 16 * MB

HOSTILE = {
    "sparse corner cell XFD1048576": (hostile.sparse_corner, "列"),
    "whitespace zip bomb": (lambda: hostile.whitespace_bomb(uncompressed_bytes=300 * MB), "MB"),
    "whitespace bomb under the size limit": (
        lambda: hostile.whitespace_bomb(uncompressed_bytes=150 * MB),
        "压缩比",
    ),
    "one huge inline string": (
        lambda: hostile.huge_inline_string(uncompressed_bytes=200 * MB),
        "MB",
    ),
    "one long incompressible cell": (hostile.long_text_cell, "32,767"),
    "1,048,575 one-cell rows": (hostile.million_rows, "100,000 行"),
    "1,048,575 rows without references": (
        lambda: hostile.million_rows(references=False),
        "压缩比",
    ),
    "billion laughs": (hostile.billion_laughs, "实体"),
    "sizes that lie": (lambda: hostile.lying_sizes(uncompressed_bytes=60 * MB), "损坏"),
}


@pytest.fixture(scope="module")
def hostile_files():
    return {name: build() for name, (build, _) in HOSTILE.items()}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_file_is_refused_with_bounded_memory(hostile_files, name):
    tracemalloc.start()
    try:
        with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
            spreadsheets.inspect_xlsx(hostile_files[name])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert HOSTILE[name][1] in refused.value.message
    assert peak < INSPECTION_HEAP_LIMIT, f"{name}: {peak / MB:.1f} MB"


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_file_is_refused_by_the_reader_with_the_limit_named(hostile_files, name):
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        spreadsheets.read_first_sheet(hostile_files[name])
    assert not isinstance(refused.value, spreadsheets.SpreadsheetUnreadable)
    assert HOSTILE[name][1] in refused.value.message


def test_row_limit_stops_reading_early():
    """The million-row file is refused after the first megabytes of its 60 MB of XML."""
    content = hostile.million_rows()
    with mock.patch.object(
        spreadsheets._WorksheetScanner, "scan", autospec=True, side_effect=_counting_scan
    ):
        _counting_scan.calls = 0
        with pytest.raises(spreadsheets.SpreadsheetRefused):
            spreadsheets.inspect_xlsx(content)
    assert _counting_scan.calls < 10


_original_scan = spreadsheets._WorksheetScanner.scan


def _counting_scan(self, window, end):
    _counting_scan.calls += 1
    return _original_scan(self, window, end)


def test_file_larger_than_the_upload_limit_is_refused_without_reading():
    content = b"PK\x03\x04" + bytes(spreadsheets.MAX_FILE_BYTES)
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        spreadsheets.read_first_sheet(content)
    assert "30 MB" in refused.value.message


def test_a_far_cell_in_the_last_unclosed_tag_is_seen():
    content = hostile.workbook_from_sheet(
        [
            (
                hostile._SHEET_OPEN
                + "<sheetData>"
                + hostile.header_row()
                + '<row r="2"><c r="ZZZ2"/>'
            ).encode()
        ]
    )
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        spreadsheets.inspect_xlsx(content)
    assert "18,278 列" in refused.value.message


def test_cells_without_references_are_refused():
    rows = "".join("<row><c><v>1</v></c></row>" for _ in range(10))
    content = hostile.workbook_from_sheet(
        [(hostile._SHEET_OPEN + "<sheetData>" + rows + "</sheetData></worksheet>").encode()]
    )
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        spreadsheets.inspect_xlsx(content)
    assert "位置" in refused.value.message


def test_too_many_parts_are_refused():
    parts = {f"xl/media/image{index}.xml": "<a/>" for index in range(spreadsheets.MAX_ENTRIES)}
    content = hostile.workbook_from_sheet([b"<worksheet/>"], prefix_parts=parts)
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        spreadsheets.inspect_xlsx(content)
    assert str(spreadsheets.MAX_ENTRIES) in refused.value.message


def test_valid_roster_and_template_pass_inspection(year):
    spreadsheets.inspect_xlsx(build_template(campus_codes=["101200"]))
    rows = demo_rows(200, school_code="1012", campus_codes=["101200"], year=year)
    content = roster_workbook(rows)
    spreadsheets.inspect_xlsx(content)
    sheet = spreadsheets.read_first_sheet(content)
    assert len(sheet.rows) == 201
    assert sheet.rows[1] == (2, list(rows[0].values()))


def test_inspection_sees_a_reference_split_across_chunks(monkeypatch):
    """A cell reference cut by the chunk boundary is still checked."""
    padding = "".join(
        f'<row r="{row}">{hostile.inline_cell(f"A{row}", "x" * 50)}</row>' for row in range(2, 400)
    )
    corner = '<row r="400"><c r="ZZ400"><v>1</v></c></row>'
    content = hostile.workbook_from_sheet(
        [
            (
                hostile._SHEET_OPEN + "<sheetData>" + padding + corner + "</sheetData></worksheet>"
            ).encode()
        ]
    )
    for chunk_bytes in range(1000, 1200, 7):
        monkeypatch.setattr(spreadsheets, "CHUNK_BYTES", chunk_bytes)
        with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
            spreadsheets.inspect_xlsx(content)
        assert "702" in refused.value.message, chunk_bytes


def test_cell_values_keep_their_types_through_the_reader():
    """The child hands back exactly what python-calamine reads in-process."""
    import datetime as dt
    import io

    import python_calamine
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["文本", "数字", "小数", "日期", "时刻", "长号码", "真"])
    workbook.active.append(
        [
            "张三",
            42,
            1.5,
            dt.datetime(2026, 9, 1),
            dt.datetime(2026, 9, 1, 8, 30),
            310109200806061614,
            True,
        ]
    )
    buffer = io.BytesIO()
    workbook.save(buffer)
    in_process = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(buffer.getvalue()))
    expected = in_process.get_sheet_by_index(0).to_python()
    rows = spreadsheets.read_first_sheet(buffer.getvalue()).rows
    assert [values for _, values in rows] == expected
    # A long number is a float still (ExactNumber), carrying the text the file stored.
    assert all(isinstance(v, type(e)) for v, e in zip(rows[1][1], expected[1], strict=True))
    assert rows[1][1][5].text == "3.101092008060616e+17"  # as openpyxl wrote it


# --- a reader that dies is contained -----------------------------------------------------------


@pytest.mark.parametrize("how", ["os.abort()", "os.kill(os.getpid(), signal.SIGKILL)"])
def test_reader_that_dies_is_reported_and_the_caller_survives(monkeypatch, how, year):
    content = roster_workbook(demo_rows(2, school_code="1012", campus_codes=["101200"], year=year))
    monkeypatch.setattr(
        spreadsheets,
        "_child_command",
        lambda: [sys.executable, "-c", f"import os, signal; {how}"],
    )
    with pytest.raises(spreadsheets.SpreadsheetUnreadable) as unreadable:
        spreadsheets.read_first_sheet(content)
    assert "内存" in unreadable.value.message and "信号" in unreadable.value.message
    assert os.getpid()  # still here


def test_parser_that_exhausts_the_memory_limit_is_contained(monkeypatch):
    """With the inspection's limits lifted, python-calamine meets the sparse corner cell: the
    child runs out of address space or aborts; the caller gets a message, nothing more."""
    uninspected = (
        "import resource, sys; from enrollment import spreadsheets as s; "
        "s._limit(resource.RLIMIT_AS, s.CHILD_ADDRESS_SPACE_BYTES); "
        "print(len(list(s._read_rows(sys.stdin.buffer.read()))))"
    )
    monkeypatch.setattr(spreadsheets, "_child_command", lambda: [sys.executable, "-c", uninspected])
    with pytest.raises(spreadsheets.SpreadsheetUnreadable) as unreadable:
        spreadsheets.read_first_sheet(hostile.sparse_corner())
    assert "1024 MB" in unreadable.value.message


def test_reader_that_hangs_is_stopped(monkeypatch, year):
    content = roster_workbook(demo_rows(2, school_code="1012", campus_codes=["101200"], year=year))
    monkeypatch.setattr(
        spreadsheets,
        "_child_command",
        lambda: [sys.executable, "-c", "import time; time.sleep(60)"],
    )
    with pytest.raises(spreadsheets.SpreadsheetUnreadable) as unreadable:
        spreadsheets.read_first_sheet(content, timeout=1)
    assert "超时" in unreadable.value.message


assert signal  # used inside the child commands above


# --- sheets elsewhere in the zip, and the child's own limits (review C1, 2) --------------------


@pytest.mark.parametrize(
    "target", ["other/s.xml", "/xl/other/s.xml", "../xl/other/s.xml", "other/s%2Exml"]
)
def test_moved_sheet_with_a_far_cell_is_refused_by_the_inspection(target):
    """The sheet is found through the workbook's relationships, wherever it lies in the zip."""
    content = hostile.sparse_corner(sheet_path="xl/other/s.xml", sheet_target=target)
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        spreadsheets.inspect_xlsx(content)
    assert "列" in refused.value.message


def test_moved_sheet_without_an_xml_name_is_scanned():
    content = hostile.sparse_corner(sheet_path="xl/other/s.bin")
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        spreadsheets.inspect_xlsx(content)
    assert "列" in refused.value.message


def test_moved_sheet_with_too_many_rows_is_refused_by_the_reader():
    content = hostile.million_rows(rows=100_001, sheet_path="xl/other/s.xml")
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        spreadsheets.read_first_sheet(content)
    assert "100,000 行" in refused.value.message


def test_reader_itself_refuses_rows_past_the_limit(monkeypatch):
    """Whatever the inspection misses, the child's reading stops at MAX_ROWS."""
    monkeypatch.setattr(spreadsheets, "MAX_ROWS", 5)
    content = hostile.million_rows(rows=10)
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        list(spreadsheets._read_rows(content))
    assert "5 行" in refused.value.message


def test_reader_itself_refuses_columns_past_the_limit(monkeypatch):
    monkeypatch.setattr(spreadsheets, "MAX_COLUMNS", 10)
    content = roster_workbook([])  # the 18-column header
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        list(spreadsheets._read_rows(content))
    assert "10 列" in refused.value.message


def test_reader_output_past_the_cap_fails_the_upload_with_a_message(monkeypatch, year):
    monkeypatch.setattr(spreadsheets, "MAX_OUTPUT_BYTES", 1024 * 1024)
    content = roster_workbook(
        demo_rows(5000, school_code="1012", campus_codes=["101200"], year=year)
    )
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        spreadsheets.read_first_sheet(content)
    assert "1 MB" in refused.value.message


def test_parent_reads_at_most_the_cap_of_a_child_that_writes_without_end(monkeypatch):
    monkeypatch.setattr(spreadsheets, "MAX_OUTPUT_BYTES", 4 * 1024 * 1024)
    endless = "import sys\nwhile True: sys.stdout.buffer.write(b'x' * 65536)"
    monkeypatch.setattr(spreadsheets, "_child_command", lambda: [sys.executable, "-c", endless])
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        spreadsheets.read_first_sheet(hostile.sparse_corner(), timeout=20)
    assert "4 MB" in refused.value.message


# --- the operator's limits (issue 14): only the command raises them ---------------------------


def test_operator_limits_read_more_rows_than_an_upload_may_have():
    content = hostile.million_rows(rows=100_001)
    with pytest.raises(spreadsheets.SpreadsheetRefused, match="100,000 行"):
        spreadsheets.read_first_sheet(content)
    rows = spreadsheets.read_first_sheet(content, limits=spreadsheets.operator_limits(100_002)).rows
    assert len(rows) == 100_002 and rows[-1][0] == 100_002


def test_operator_limits_scale_what_grows_with_the_roster():
    upload = spreadsheets.upload_limits()
    limits = spreadsheets.operator_limits(200_000)
    assert limits.rows == 200_000
    for name in ("file_bytes", "uncompressed_bytes", "output_bytes", "address_space_bytes"):
        assert getattr(limits, name) == 2 * getattr(upload, name), name
    assert limits.seconds == 2 * upload.seconds


def test_operator_limits_below_the_upload_rows_keep_the_upload_sizes():
    limits = spreadsheets.operator_limits(50)
    assert limits == spreadsheets.ReadLimits(
        50, *spreadsheets.astuple(spreadsheets.upload_limits())[1:]
    )


@pytest.mark.parametrize("rows", [0, spreadsheets.OPERATOR_MAX_ROWS + 1])
def test_operator_limits_refuse_rows_outside_the_ceiling(rows):
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        spreadsheets.operator_limits(rows)
    assert "250,000" in refused.value.message


def test_reader_started_without_limits_reads_under_the_upload_limits():
    """The child takes its limits as arguments; with none it applies the upload's."""
    import subprocess

    finished = subprocess.run(
        spreadsheets._child_command(),
        input=hostile.million_rows(rows=100_001),
        capture_output=True,
        cwd=spreadsheets._ROOT,
        check=True,
    )
    assert "100,000 行" in finished.stdout.decode()


# --- the child's answer, line by line (issue 14) ------------------------------------------------


def test_reader_answer_that_stops_before_its_end_is_unreadable(monkeypatch):
    """A child that exits cleanly after some rows but without its closing line has not read the
    whole sheet: the file is not taken as read."""
    partial = 'import sys; sys.stdout.write(\'[[1, ["姓名"]], [2, ["张三"]]]\\n\')'
    monkeypatch.setattr(spreadsheets, "_child_command", lambda: [sys.executable, "-c", partial])
    with pytest.raises(spreadsheets.SpreadsheetUnreadable) as unreadable:
        spreadsheets.read_first_sheet(hostile.sparse_corner())
    assert "输出无法识别" in unreadable.value.message


def test_reader_shares_one_string_per_repeating_value(year):
    """Past SHARED_VALUES_PER_COLUMN rows (the unique columns have stopped being shared), a
    college read in the last row is the very object read in an early row; values are intact."""
    count = spreadsheets.SHARED_VALUES_PER_COLUMN + 10
    rows = demo_rows(count, school_code="1012", campus_codes=["101200"], year=year)
    sheet = spreadsheets.read_first_sheet(roster_workbook(rows)).rows
    college = rules_index("学院")
    early, last = sheet[1 + (count - 1) % 4][1], sheet[-1][1]  # demo colleges repeat every 4
    assert early[college] == last[college] == rows[-1]["学院"]
    assert early[college] is last[college]
    assert last[rules_index("学号")] == rows[-1]["学号"]


def rules_index(header: str) -> int:
    from enrollment import rules

    return rules.HEADERS.index(header)
