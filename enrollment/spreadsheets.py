"""Every uploaded spreadsheet is read here, defensively, before any parser sees it.

An .xlsx file is a zip of XML parts. A few kilobytes can claim a sheet of 17 billion cells
(one cell at XFD1048576), hold gigabytes of whitespace or one giant string, or declare XML
entities that expand without end. Native parsers (python-calamine, openpyxl) then allocate
until the process is killed. So a file is read in two steps:

1. `inspect_xlsx` streams through the zip and refuses, with a message naming the limit, any
   file that passes one of the limits below. It decompresses each part at most once, in
   chunks, and stops as soon as a limit is passed: it never holds more than a chunk of XML.
2. `read_first_sheet` runs the inspection and python-calamine in a child process (this module
   run as `python -m enrollment.spreadsheets`) with its own address-space and CPU limits. An
   abort inside the native parser (SIGABRT), an out-of-memory kill or a hang ends the child,
   never the web process or the Celery worker; the caller gets `SpreadsheetUnreadable`.

The limits, and why a real file never reaches them (a school files at most some tens of
thousands of freshmen a year; the 50,000-row benchmark roster is 4.9 MB, its sheet 52 MB of
XML, 18 columns, 9 zip parts):

- `MAX_FILE_BYTES` 30 MB: six times the 50,000-row roster.
- `MAX_ROWS` 100,000 rows (and no row number above it): twice the benchmark roster, more
  freshmen than any Chinese university enrolls in a year.
- `MAX_COLUMNS` 64 (column BL): the template has 18 columns, the error workbook 19; the ID
  list needs one. 64 leaves room for a school's own notes; the importer refuses unknown headers
  anyway.
- `MAX_ENTRIES` 100 parts: Excel writes 9–15 for a roster, a few more per extra sheet, comment
  or picture.
- `MAX_UNCOMPRESSED_BYTES` 160 MB for all parts together, actual bytes counted while
  decompressing (the sizes a zip declares can lie): a 100,000-row roster written with inline
  strings, the largest form, is about 105 MB.
- `MAX_RATIO` 100 for parts larger than 1 MB: spreadsheet XML compresses 5–15 times (the
  benchmark sheet 10.6 times); whitespace or repeated tags compress 1,000 times.
- `MAX_TEXT_BYTES` 128 KB without a tag: Excel's own limit for one cell is 32,767 characters
  (at most 98 KB in UTF-8); a longer run is one giant string or padding.
- No DOCTYPE or entity declaration anywhere: Excel never writes them; they are how XML
  entity-expansion ("billion laughs") attacks work.
- Every cell of a worksheet names its position (`r="B7"`): Excel, LibreOffice, WPS and
  openpyxl always write it, and without it a parser infers positions from the count of cells.

Worksheets are found as the parser finds them, not by their usual path (xl/worksheets/): the
package relationships name the workbook, the workbook's `<sheet r:id>` and its relationships
name the sheets, wherever in the zip they are (`_layout`). Each of those parts is scanned as a
worksheet whatever its name. The child then checks the sheet it read against `MAX_ROWS` and
`MAX_COLUMNS` again before and while reading its rows, so what the inspection could miss is still
bounded; and it sends back at most `MAX_OUTPUT_BYTES`.

The child's memory limit (`CHILD_ADDRESS_SPACE_BYTES`, 1 GiB) is three times what reading the
100,000-row worst case needs; its time limit (`CHILD_SECONDS`) ten times the 50,000-row read.

Those are the limits of every upload (`upload_limits`). The one exception is the operator's
command on the server (`import_roster --max-rows N`, run by staff, never reachable from a
browser): `operator_limits(N)` allows up to `OPERATOR_MAX_ROWS` rows and scales the limits that
grow with a roster's length (file size, uncompressed size, output, the child's memory and time)
in proportion; the others (columns, parts, ratio, cell length, no entities) stay as they are.
The limits reach the child as arguments; a child started without them reads under the upload's.

This module imports nothing from Django, so that the child starts in a few tens of milliseconds.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import itertools
import json
import os
import posixpath
import re
import resource
import subprocess
import sys
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from dataclasses import astuple, dataclass, replace
from pathlib import Path

MAX_FILE_BYTES = 30 * 1024 * 1024
MAX_ROWS = 100_000
MAX_COLUMNS = 64
MAX_ENTRIES = 100
MAX_UNCOMPRESSED_BYTES = 160 * 1024 * 1024
MAX_RATIO = 100
RATIO_CHECKED_ABOVE = 1024 * 1024
MAX_TEXT_BYTES = 128 * 1024
CHILD_ADDRESS_SPACE_BYTES = 1024 * 1024 * 1024
CHILD_SECONDS = 30
CHUNK_BYTES = 1024 * 1024
# A package's relationship, content-type and workbook parts are a few kilobytes (one line per
# sheet, style, theme…); they are read whole to find the sheets, so they are capped first.
MAX_LAYOUT_PART_BYTES = 1024 * 1024
# What the child may send back: the 50,000-row benchmark roster is about 12 MB of JSON.
MAX_OUTPUT_BYTES = 64 * 1024 * 1024

# The operator's command may read at most this many rows (`operator_limits`): 2.5 times the
# upload's limit, above the 200,000-row benchmark (a district's roster in one file), with the
# child's memory limit scaled to 2.5 GiB. Measured in bench/RESULTS.md (issue 14).
OPERATOR_MAX_ROWS = 250_000

_ROOT = Path(__file__).resolve().parent.parent
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
_XML_SUFFIXES = (".xml", ".rels", ".vml")
_WORKSHEET = re.compile(r"^xl/worksheets/[^/]+\.xml$", re.IGNORECASE)
_RELATIONSHIP = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Relationship\s[^>]*>")
_SHEET_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sheet\s[^>]*>")
_OVERRIDE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Override\s[^>]*>")
_ATTRIBUTE = re.compile(rb"""([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_SHEET_CONTENT_TYPE = re.compile(r"(?:work|chart|dialog|macro)sheet\+xml", re.IGNORECASE)
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_NOT_UTF8 = (b"\xff\xfe", b"\xfe\xff", b"\x00")
_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")
# A cell tag without an r attribute; cells are short, so the look-ahead stays within the tag.
_CELL_WITHOUT_REF = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c(?=[\s/>])(?![^>]*\sr\s*=)")
# Only references that could pass a limit are captured (two or more letters, six or more
# digits): a valid roster has none, so the scan runs at the speed of the regex engine.
_WIDE_REF = re.compile(rb"""\sr\s*=\s*["']([A-Za-z]{2,})[0-9]""")
_DEEP_REF = re.compile(rb"""\sr\s*=\s*["'][A-Za-z]*([0-9]{6,})["']""")
# Cell tags in the canonical spelling, and anything else (no r, r not first, a prefix).
_NON_CANONICAL_CELL = re.compile(rb'<c(?! r=")[\s/>]')
_PREFIXED_TAG = re.compile(rb":(?:c|row)[\s/>]")
_FAR_CELL_REF = re.compile(rb'<c r="(?:([A-Za-z]{2,})[0-9]|[A-Za-z]*([0-9]{6,})")')
_DIMENSION = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?dimension\s+ref\s*=\s*["']([^"']*)["']""")
_CELL_REF = re.compile(r"^\$?([A-Za-z]{1,7})\$?([0-9]{1,9})$")


class SpreadsheetRefused(Exception):
    """The file passes a limit or is not an .xlsx workbook; the message says which and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SpreadsheetUnreadable(SpreadsheetRefused):
    """The reader process died or ran out of time or memory on a file that passed inspection."""


@dataclass
class SheetRows:
    """The non-blank rows of a workbook's first sheet, with their spreadsheet row numbers.

    Cells are python-calamine's values (str, int, float, bool, date, datetime, time, timedelta
    or None), padded so that index 0 is column A; a number the float cannot hold exactly is an
    `ExactNumber`, which also carries the text the file stored.
    """

    rows: list[tuple[int, list[object]]]


@dataclass(frozen=True)
class ReadLimits:
    """The limits that grow with a roster's length, for one read (see the module docstring)."""

    rows: int
    file_bytes: int
    uncompressed_bytes: int
    output_bytes: int
    address_space_bytes: int
    seconds: int

    def as_args(self) -> list[str]:
        return [str(value) for value in astuple(self)]

    @classmethod
    def from_args(cls, argv: list[str]) -> ReadLimits:
        return cls(*(int(value) for value in argv))


def upload_limits() -> ReadLimits:
    """The limits of every upload (browser, worker, admin, desk): the module's constants,
    read when asked."""
    return ReadLimits(
        rows=MAX_ROWS,
        file_bytes=MAX_FILE_BYTES,
        uncompressed_bytes=MAX_UNCOMPRESSED_BYTES,
        output_bytes=MAX_OUTPUT_BYTES,
        address_space_bytes=CHILD_ADDRESS_SPACE_BYTES,
        seconds=CHILD_SECONDS,
    )


def operator_limits(rows: int) -> ReadLimits:
    """The limits for the operator's command reading a roster of up to `rows` rows: refused
    past OPERATOR_MAX_ROWS; above the upload's row limit, the limits that grow with length are
    the upload's scaled by rows / MAX_ROWS (never below the upload's)."""
    if not 1 <= rows <= OPERATOR_MAX_ROWS:
        raise SpreadsheetRefused(
            f"--max-rows 必须在 1 到 {OPERATOR_MAX_ROWS:,} 之间（收到 {rows:,}）。"
            f"超过 {OPERATOR_MAX_ROWS:,} 行的名单请拆分成几个文件分别导入"
        )
    base = upload_limits()
    if rows <= base.rows:
        return replace(base, rows=rows)

    def scaled(value: int) -> int:
        return -(-value * rows // base.rows)  # rounded up

    # Every field grows with length (the class's definition); `rows` scales to itself.
    return ReadLimits(*(scaled(value) for value in astuple(base)))


class ExactNumber(float):
    """A number cell whose stored text a float does not reproduce.

    A file may store `<v>310109200806061614</v>`: as a float it is 310109200806061632. The rules
    see the float (and refuse a number cell as an ID number); whatever writes the cell back
    (the error workbook) writes `text`, exactly what the file held.
    """

    text: str

    def __new__(cls, value: float, text: str) -> ExactNumber:
        number = super().__new__(cls, value)
        number.text = text
        return number

    def __reduce__(self) -> tuple:
        return (ExactNumber, (float(self), self.text))


# Beyond 2**53 a float no longer holds every integer; a fraction may lose its written digits.
_EXACT_FLOAT_LIMIT = 2**53


# --- inspection --------------------------------------------------------------------------------


def inspect_xlsx(content: bytes, limits: ReadLimits | None = None) -> None:
    """Refuse a file that is not an .xlsx workbook or passes any of the module's limits
    (`limits`: the upload's unless given)."""
    limits = limits or upload_limits()
    _check_container(content, limits)
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise SpreadsheetRefused(_DAMAGED) from exc
    if len(entries) > MAX_ENTRIES:
        raise SpreadsheetRefused(
            f"文件包含 {len(entries)} 个内部部件，超过 {MAX_ENTRIES} 个的上限，不像是名单表格。"
            "请只保留名单工作表，另存为 .xlsx 后再上传"
        )
    declared = sum(entry.file_size for entry in entries)
    if declared > limits.uncompressed_bytes:
        raise SpreadsheetRefused(_too_large_message(limits))
    for entry in entries:
        _check_ratio(entry.file_size, entry.compress_size)
    sheets = _layout(archive, entries)
    total = 0
    for entry in entries:
        total = _inspect_entry(
            archive, entry, total, limits, is_sheet=entry.filename.lower() in sheets
        )


def _layout(archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo]) -> set[str]:
    """The (lower-cased) names of every part a parser could read as a worksheet.

    Followed as a parser follows them: `_rels/.rels` names the workbook, the workbook's
    `<sheet r:id>` tags name relationships in its own .rels part, whose targets are the sheets.
    Also taken: any relationship whose type is a sheet, any part the content types declare a
    sheet, and the usual path. Over-including costs a scan; missing one would let a sheet
    through unscanned.
    """
    names = {entry.filename.lower(): entry for entry in entries}
    sheets = {name for name in names if _WORKSHEET.match(name)}

    def read(name: str) -> bytes:
        entry = names.get(name)
        return _read_layout_part(archive, entry) if entry else b""

    for tag in _OVERRIDE.findall(read("[content_types].xml")):
        attributes = _attributes(tag)
        if _SHEET_CONTENT_TYPE.search(attributes.get("contenttype", "")):
            sheets.update(_part_names(attributes.get("partname", ""), base=""))
    workbooks = {"xl/workbook.xml"}
    for kind, targets in _relationships(read("_rels/.rels"), base="").values():
        if kind.endswith("/officedocument"):
            workbooks.update(targets)
    for name in names:
        if name.endswith(".rels"):
            for kind, targets in _relationships(read(name), base=_rels_base(name)).values():
                if kind.endswith("sheet"):
                    sheets.update(targets)
    for workbook in workbooks:
        relationships = _relationships(read(_rels_name(workbook)), base=_parent(workbook))
        for tag in _SHEET_TAG.findall(read(workbook)):
            for attribute, value in _attributes(tag).items():
                if attribute.endswith(":id") and value in relationships:
                    sheets.update(relationships[value][1])
    return sheets


def _read_layout_part(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bytes:
    try:
        with archive.open(entry) as stream:
            content = stream.read(MAX_LAYOUT_PART_BYTES + 1)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError, NotImplementedError):
        raise SpreadsheetRefused(_DAMAGED) from None
    if len(content) > MAX_LAYOUT_PART_BYTES:
        raise SpreadsheetRefused(_DAMAGED)
    return content


def _attributes(tag: bytes) -> dict[str, str]:
    return {
        name.decode("ascii", "replace").lower(): (double or single).decode("utf-8", "replace")
        for name, double, single in _ATTRIBUTE.findall(tag)
    }


def _relationships(content: bytes, *, base: str) -> dict[str, tuple[str, set[str]]]:
    """Relationship id -> (type, lower-cased names its target may resolve to)."""
    found = {}
    for tag in _RELATIONSHIP.findall(content):
        attributes = _attributes(tag)
        if attributes.get("targetmode", "").lower() == "external":
            continue
        found[attributes.get("id", "")] = (
            attributes.get("type", "").lower(),
            _part_names(attributes.get("target", ""), base=base),
        )
    return found


def _part_names(target: str, *, base: str) -> set[str]:
    """Every zip name a target could mean: as the packaging standard resolves it (relative to
    its source part's folder, or from the root with a leading /), and as lenient readers do
    (relative to xl/, or the target as written)."""
    target = html.unescape(target)
    candidates = set()
    for spelling in {target, urllib.parse.unquote(target)}:
        spelling = spelling.replace("\\", "/")
        if spelling.startswith("/"):
            candidates.add(spelling[1:])
        else:
            candidates.add(posixpath.join(base, spelling))
            candidates.add("xl/" + spelling)
            candidates.add(spelling)
    return {posixpath.normpath(name).lstrip("/").lower() for name in candidates if name}


def _rels_base(rels_name: str) -> str:
    """The folder of the part that `…/_rels/name.rels` describes."""
    folder = _parent(rels_name)
    return _parent(folder) if folder.endswith("_rels") else folder


def _rels_name(part: str) -> str:
    return posixpath.join(_parent(part), "_rels", posixpath.basename(part) + ".rels")


def _parent(name: str) -> str:
    return posixpath.dirname(name)


def _check_container(content: bytes, limits: ReadLimits) -> None:
    if not content:
        raise SpreadsheetRefused("文件是空的，请选择填写好的 .xlsx 文件")
    check_file_size(len(content), limits)
    if content.startswith(_OLE_MAGIC):
        raise SpreadsheetRefused(
            "这是旧版 Excel（.xls）文件或已加密的文件。请在 Excel 中“另存为” .xlsx 格式"
            "（不设密码）后再上传"
        )
    if not content.startswith(_ZIP_MAGIC):
        raise SpreadsheetRefused("文件不是 Excel .xlsx 格式，请下载模板，填写后以 .xlsx 格式上传")


def check_file_size(size: int, limits: ReadLimits | None = None) -> None:
    """The one upload size limit: every form, service and command that takes a file asks it,
    before reading the file when it can (a form's upload.size, a command's stat)."""
    limits = limits or upload_limits()
    if size > limits.file_bytes:
        raise SpreadsheetRefused(file_too_large_message(limits))


def file_too_large_message(limits: ReadLimits | None = None) -> str:
    megabytes = (limits or upload_limits()).file_bytes // (1024 * 1024)
    return f"文件大小超过 {megabytes} MB 的上限，请拆分成几个文件分别上传"


_DAMAGED = "文件无法作为 Excel .xlsx 读取，可能已损坏。请用 Excel 打开后重新保存为 .xlsx 再上传"


def _too_large_message(limits: ReadLimits) -> str:
    return (
        f"文件解压后超过 {limits.uncompressed_bytes // (1024 * 1024)} MB 的上限，"
        f"远大于 {limits.rows:,} 行的名单。请删除名单以外的内容，或拆分成几个文件分别上传"
    )


def _check_ratio(uncompressed: int, compressed: int) -> None:
    if uncompressed > RATIO_CHECKED_ABOVE and uncompressed > MAX_RATIO * max(compressed, 1):
        raise SpreadsheetRefused(
            f"文件内容的压缩比超过 {MAX_RATIO} 倍的上限（正常表格约 5–15 倍），"
            "其中含有大量空白或重复内容。请把名单复制到新的工作表，另存为 .xlsx 后再上传"
        )


def _inspect_entry(
    archive: zipfile.ZipFile,
    entry: zipfile.ZipInfo,
    total: int,
    limits: ReadLimits,
    *,
    is_sheet: bool = False,
) -> int:
    """Stream one part, counting its real size; scan XML parts. Returns the running total.

    A sheet is scanned as XML whatever its name ends with.
    """
    is_xml = is_sheet or entry.filename.lower().endswith(_XML_SUFFIXES)
    scanner = _WorksheetScanner(limits.rows) if is_sheet else None
    size = 0
    tail = b""
    run = 0  # bytes since the last "<", across chunks
    try:
        with archive.open(entry) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                size += len(chunk)
                total += len(chunk)
                if total > limits.uncompressed_bytes:
                    raise SpreadsheetRefused(_too_large_message(limits))
                _check_ratio(size, entry.compress_size)
                if not is_xml:
                    continue
                if size == len(chunk) and chunk.startswith(_NOT_UTF8):
                    raise SpreadsheetRefused(_DAMAGED)
                window = tail + chunk
                if b"<!" in window and _DECLARATION.search(window):
                    raise SpreadsheetRefused(
                        "文件中含有 XML 实体或文档类型声明（Excel 从不写入），可能是恶意构造的文件，"
                        "未被接收。请用 Excel 新建表格，粘贴名单后另存为 .xlsx 再上传"
                    )
                run = _check_text_runs(chunk, run)
                # The last tag may be cut by the chunk boundary: it is scanned with the next
                # chunk (a tag is at most MAX_TEXT_BYTES long: the run check counts its bytes).
                cut = window.rfind(b"<")
                if cut == -1:
                    cut = len(window)
                if scanner is not None:
                    scanner.scan(window, cut)
                tail = window[cut:]
            if scanner is not None and tail:
                scanner.scan(tail, len(tail))  # the part's last tag, even if never closed
    except SpreadsheetRefused:
        raise
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        ValueError,
        RuntimeError,
        NotImplementedError,
    ) as exc:
        # A wrong CRC, a truncated stream, an encrypted part or an unknown compression method.
        raise SpreadsheetRefused(_DAMAGED) from exc
    return total


def _check_text_runs(chunk: bytes, run: int) -> int:
    """Refuse a stretch of more than MAX_TEXT_BYTES without a tag; return the open run length.

    A run longer than MAX_TEXT_BYTES contains a whole interval of MAX_TEXT_BYTES / 2 that
    starts at a multiple of it, so probing those intervals finds every such run in a few
    C-speed searches per chunk.
    """
    first = chunk.find(b"<")
    if first == -1:
        run += len(chunk)
    else:
        longest = run + first
        step = MAX_TEXT_BYTES // 2
        for position in range(first, len(chunk) - step + 1, step):
            if chunk.find(b"<", position, position + step) != -1:
                continue
            end = chunk.find(b"<", position + step)
            if end != -1:  # a run that ends at the chunk's end is measured below
                longest = max(longest, end - chunk.rfind(b"<", 0, position) - 1)
        run = len(chunk) - chunk.rfind(b"<") - 1
        run = max(run, longest)
    if run > MAX_TEXT_BYTES:
        raise SpreadsheetRefused(
            "文件中有单元格内容超过 32,767 个字符（Excel 单元格的上限），或含有大量空白，"
            "不是正常的名单。请检查后另存为 .xlsx 再上传"
        )
    return run


class _WorksheetScanner:
    """Counts rows and checks cell references of one worksheet, chunk by chunk.

    Each call scans the window up to its last "<"; the tag that starts there is carried into the
    next window, so no tag is cut and none is counted twice. Excel, WPS, LibreOffice and
    openpyxl write every cell as `<c r="…"`: for such windows, counting bytes confirms it and
    literal-prefix searches check the references. Any other spelling takes the general path.
    """

    def __init__(self, max_rows: int) -> None:
        self.rows = 0
        self.max_rows = max_rows
        self.seen_dimension = False

    def scan(self, window: bytes, end: int) -> None:
        canonical = not (
            _NON_CANONICAL_CELL.search(window, 0, end) or _PREFIXED_TAG.search(window, 0, end)
        )
        if canonical:
            self.rows += window.count(b"<row", 0, end) - window.count(b"<rowBreaks", 0, end)
        else:
            self.rows += len(_ROW_TAG.findall(window, 0, end))
        if self.rows > self.max_rows:
            raise SpreadsheetRefused(
                f"工作表超过 {self.max_rows:,} 行的上限（一所院校一年的新生远少于此）。"
                "请删除多余的行，或拆分成几个文件分别上传"
            )
        if not self.seen_dimension:  # it comes before the cells, in the first window
            self.seen_dimension = True
            if match := _DIMENSION.search(window, 0, end):
                for reference in match.group(1).decode("ascii", "replace").split(":"):
                    _check_reference(reference, self.max_rows)
        if canonical:
            references = _FAR_CELL_REF.findall(window, 0, end)
            wide = {letters for letters, _ in references if letters}
            deep = {digits for _, digits in references if digits}
        elif _CELL_WITHOUT_REF.search(window, 0, end):
            raise SpreadsheetRefused(
                "文件中的单元格没有标明位置，不是 Excel 保存的标准格式。"
                "请用 Excel 或 WPS 打开后另存为 .xlsx 再上传"
            )
        else:
            wide = set(_WIDE_REF.findall(window, 0, end))
            deep = set(_DEEP_REF.findall(window, 0, end))
        for letters in wide:
            _check_column(_column_number(letters.decode("ascii")))
        for digits in deep:
            _check_row(int(digits), self.max_rows)


def _check_reference(reference: str, max_rows: int) -> None:
    match = _CELL_REF.match(reference.strip())
    if not match:
        raise SpreadsheetRefused(_DAMAGED)
    _check_column(_column_number(match.group(1)))
    _check_row(int(match.group(2)), max_rows)


def _check_column(column: int) -> None:
    if column > MAX_COLUMNS:
        raise SpreadsheetRefused(
            f"工作表使用到第 {column:,} 列，超过 {MAX_COLUMNS} 列（{column_letters(MAX_COLUMNS)} 列）"
            "的上限。请删除名单右侧多余的列（包括只设了格式的空列），另存后再上传"
        )


def _check_row(row: int, max_rows: int) -> None:
    if row > max_rows:
        raise SpreadsheetRefused(
            f"工作表使用到第 {row:,} 行，超过 {max_rows:,} 行的上限。"
            "请删除名单下方多余的行（包括只设了格式的空行），另存后再上传"
        )


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def column_letters(number: int) -> str:
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


# --- reading, in a child process ---------------------------------------------------------------


def read_first_sheet(
    content: bytes, *, timeout: float | None = None, limits: ReadLimits | None = None
) -> SheetRows:
    """Inspect the file and read its first sheet in a child process with memory and time limits
    (`limits`: the upload's unless given; only the operator's command passes others).

    Raises SpreadsheetRefused (a limit, or not an .xlsx) or SpreadsheetUnreadable (the reader
    died: a native abort, out of memory, out of time).
    """
    limits = limits or upload_limits()
    timeout = limits.seconds + 10 if timeout is None else timeout
    _check_container(content, limits)  # cheap, and spares a child for the common mistakes
    command = [*_child_command(), *limits.as_args()]
    returncode, lines = _run_child(command, content, timeout=timeout, limits=limits)
    if returncode != 0:
        raise SpreadsheetUnreadable(_unreadable_message(_exit_reason(returncode), limits))
    # Parsed once the child is gone (while it runs it holds the whole sheet), each line let go
    # as it is parsed: never the whole output as one string, nor as text and rows at once.
    reply = _Reply()
    for index, line in enumerate(lines):
        lines[index] = b""
        reply.take(line)
    del lines
    if reply.refused is not None:
        raise SpreadsheetRefused(reply.refused)
    if reply.damaged or not reply.finished:
        raise SpreadsheetUnreadable(_unreadable_message("输出无法识别", limits))
    return SheetRows(rows=reply.rows)


# A column keeps one string object per distinct value while it has at most this many: codes,
# places, colleges, dates as text repeat down a roster; names, ID numbers and phones do not,
# and stop being shared after this many rows (their dict would cost more than it saves).
SHARED_VALUES_PER_COLUMN = 4096
# Rows per line of the child's output: the parent parses a line as it arrives.
_BATCH_ROWS = 1000


class _Reply:
    """The child's answer, parsed line by line (never held whole): batches of rows, each line a JSON array of [row number, cells]; then one object, either
    {"numbers": [[row, column, text], …]} (the stored text of numbers a float may not hold:
    the end of a read) or {"refused": message}.

    Repeating text is shared as the rows come: at 200,000 rows one string object per cell
    would cost about 1 KB a row more (the cells are kept while the rows are checked)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, list[object]]] = []
        self.refused: str | None = None
        self.finished = False
        self.damaged = False
        self._shared: list[dict[str, str]] = []
        self._sharing: list[int] = []  # the columns still shared
        self._columns = 0

    def take(self, line: bytes) -> None:
        try:
            value = json.loads(line, object_hook=_decode_cell)
            if isinstance(value, list):
                for number, cells in value:
                    self._share(cells)
                    self.rows.append((number, cells))
            elif "refused" in value:
                self.refused = str(value["refused"])
            elif "numbers" in value:
                self._attach_numbers(value["numbers"])
                self.finished = True
            else:
                self.damaged = True
        except (ValueError, TypeError, KeyError, IndexError):
            self.damaged = True

    def _share(self, cells: list[object]) -> None:
        if len(cells) > self._columns:
            self._shared += [{} for _ in range(len(cells) - self._columns)]
            self._sharing += range(self._columns, len(cells))
            self._columns = len(cells)
        for index in self._sharing:
            if index < len(cells) and type(value := cells[index]) is str:
                seen = self._shared[index]
                cells[index] = seen.setdefault(value, value)
                if len(seen) > SHARED_VALUES_PER_COLUMN:
                    self._sharing = [kept for kept in self._sharing if kept != index]
                    self._shared[index] = {}

    def _attach_numbers(self, numbers: list[list]) -> None:
        wanted: dict[int, list[tuple[int, str]]] = {}
        for number, column, text in numbers:
            wanted.setdefault(number, []).append((column, text))
        if not wanted:
            return
        for number, cells in self.rows:
            for column, text in wanted.get(number, ()):
                cells[column] = ExactNumber(cells[column], text)


def _child_command() -> list[str]:
    """The reader's command line, without its limits (`ReadLimits.as_args` follow)."""
    return [sys.executable, "-E", "-m", "enrollment.spreadsheets"]


def _run_child(
    command: list[str], content: bytes, *, timeout: float, limits: ReadLimits
) -> tuple[int, list[bytes]]:
    """Run the reader, feeding it the file; return its exit code and its output as lines, at
    most `limits.output_bytes` in all. Past that the child is killed and the file refused: the
    parent never holds more than the cap, whatever the child writes."""
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=_ROOT,
        env=_child_environment(),
    )
    over = threading.Event()
    lines: list[bytes] = []

    def feed() -> None:
        try:
            process.stdin.write(content)
            process.stdin.close()
        except OSError:  # the child stopped reading (it died, or was killed)
            pass

    def drain() -> None:
        size = 0
        line: list[bytes] = []  # the parts of a line that runs on into the next chunk
        while chunk := process.stdout.read(CHUNK_BYTES):
            size += len(chunk)
            if size > limits.output_bytes:
                over.set()
                process.kill()
                return
            start = 0
            while (end := chunk.find(b"\n", start)) != -1:
                line.append(chunk[start:end])
                lines.append(b"".join(line))
                line, start = [], end + 1
            if start < len(chunk):
                line.append(chunk[start:])
        if line:
            lines.append(b"".join(line))

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=drain)]
    for thread in threads:
        thread.start()
    try:
        returncode = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        process.kill()
        process.wait()
        raise SpreadsheetUnreadable(_unreadable_message("超时", limits)) from exc
    finally:
        threads[1].join()
        process.stdout.close()
    if over.is_set():
        raise SpreadsheetRefused(_output_too_large_message(limits))
    return returncode, lines


def _output_too_large_message(limits: ReadLimits) -> str:
    return (
        f"文件读出的内容超过 {limits.output_bytes // (1024 * 1024)} MB 的上限"
        f"（{limits.rows:,} 行的名单也远小于此），可能含有大量重复的长文本，未被接收。"
        "请只保留名单内容，另存为 .xlsx 后再上传"
    )


def _child_environment() -> dict[str, str]:
    # Only what Python needs to start; nothing of the parent's secrets or settings.
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")
    return {name: os.environ[name] for name in keep if name in os.environ}


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        return f"读取进程被信号 {-returncode} 终止"
    return f"读取进程异常退出（{returncode}）"


def _unreadable_message(reason: str, limits: ReadLimits) -> str:
    return (
        f"文件无法在限定的内存（{limits.address_space_bytes // (1024 * 1024)} MB）和时间"
        f"（{limits.seconds} 秒）内读取（{reason}），未被接收。"
        "请用 Excel 打开，把名单复制到新的工作表，另存为 .xlsx 后再上传"
    )


def _child_main(argv: list[str]) -> int:
    limits = ReadLimits.from_args(argv) if argv else upload_limits()
    _limit(resource.RLIMIT_AS, limits.address_space_bytes)
    _limit(resource.RLIMIT_CPU, limits.seconds)
    content = sys.stdin.buffer.read(limits.file_bytes + 1)
    out = sys.stdout.buffer
    try:
        inspect_xlsx(content, limits)
        # Rows go out in batches as they are read (see _Reply): neither process holds the
        # whole output, and the child holds no list of every row.
        written = 0
        inexact: set[tuple[int, int]] = set()
        rows = _read_rows(content, limits)
        while batch := list(itertools.islice(rows, _BATCH_ROWS)):
            inexact.update(_inexact_cells(batch))
            line = json.dumps(batch, ensure_ascii=False, default=_encode_cell).encode() + b"\n"
            written += len(line)
            if written > limits.output_bytes:
                raise SpreadsheetRefused(_output_too_large_message(limits))
            out.write(line)
        texts = _number_texts(content, inexact) if inexact else {}
        last = {"numbers": [[row, column, text] for (row, column), text in texts.items()]}
    except SpreadsheetRefused as refusal:
        last = {"refused": refusal.message}
    out.write(json.dumps(last, ensure_ascii=False).encode() + b"\n")
    out.flush()
    return 0


def _limit(which: int, value: int) -> None:
    """Lower a limit, never raise it: a limit set by whoever started us (prlimit) stays."""
    soft, hard = resource.getrlimit(which)
    if soft == resource.RLIM_INFINITY or soft > value:
        resource.setrlimit(which, (value, hard))


def _read_rows(
    content: bytes, limits: ReadLimits | None = None
) -> Iterator[tuple[int, list[object]]]:
    import python_calamine

    max_rows = (limits or upload_limits()).rows
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content))
        sheet = workbook.get_sheet_by_index(0)
        start_row, start_column = sheet.start or (0, 0)
        # The parser's own account of the sheet, checked again whatever the inspection saw.
        end_row, end_column = sheet.end or (0, 0)
        _check_row(end_row + 1, max_rows)
        _check_column(end_column + 1)
        cells = sheet.iter_rows()
        pad = [None] * start_column
        # Blank rows are skipped one by one rather than collected: LibreOffice files can claim
        # a million trailing empty rows.
        for offset, values in enumerate(cells):
            _check_row(start_row + 1 + offset, max_rows)
            _check_column(start_column + len(values))
            if any(filled(value) for value in values):
                yield start_row + 1 + offset, pad + list(values)
    except (MemoryError, SpreadsheetRefused):
        raise
    except Exception as exc:  # calamine reports damaged archives with several exception types
        raise SpreadsheetRefused(_DAMAGED) from exc


def filled(value: object) -> bool:
    """A cell with something in it: not None, not blank text."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return True


def _inexact(value: object) -> bool:
    kind = value.__class__
    if kind is float:
        return abs(value) >= _EXACT_FLOAT_LIMIT or not value.is_integer()
    return kind is int and abs(value) >= _EXACT_FLOAT_LIMIT


_NUMBER_TYPES = frozenset({int, float})


def _inexact_cells(rows: list[tuple[int, list[object]]]) -> set[tuple[int, int]]:
    """(row, column) of the numbers a float may not reproduce: their stored text is sent too
    (`_number_texts`, then ExactNumber in the parent).

    Rare (a long number typed into a number cell), so the sheet's XML is only read again when
    there is one; a cell not found in the canonical spelling keeps its float. Rows of text
    only (the template's) are passed over by their cell types alone, at C speed.
    """
    return {
        (number, index)
        for number, values in rows
        if not _NUMBER_TYPES.isdisjoint(map(type, values))
        for index, value in enumerate(values)
        if _inexact(value)
    }


_NUMBER_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"([^>]*?)>(.*?)</c>', re.DOTALL)
_VALUE = re.compile(rb"<v>([^<]*)</v>")


def _first_sheet_path(archive: zipfile.ZipFile) -> str | None:
    """The zip name of the workbook's first sheet, followed through the relationships as the
    inspection follows them (`_layout`)."""
    names = {name.lower(): name for name in archive.namelist()}

    def read(name: str) -> bytes:
        return archive.read(names[name]) if name in names else b""

    relationships = _relationships(read(_rels_name("xl/workbook.xml")), base="xl")
    first = _SHEET_TAG.search(read("xl/workbook.xml"))
    if not first:
        return None
    for attribute, value in _attributes(first.group(0)).items():
        if attribute.endswith(":id") and value in relationships:
            for candidate in sorted(relationships[value][1]):
                if candidate in names:
                    return names[candidate]
    return None


def _number_texts(content: bytes, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], str]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    path = _first_sheet_path(archive)
    if path is None or path not in archive.namelist():
        return {}
    found: dict[tuple[int, int], str] = {}
    tail = b""
    with archive.open(path) as stream:
        while chunk := stream.read(CHUNK_BYTES):
            window = tail + chunk
            cut = window.rfind(b"<c ")  # a cell may run on into the next chunk
            cut = 0 if cut == -1 else cut
            for match in _NUMBER_CELL.finditer(window, 0, cut):
                _record_number(match, wanted, found)
            tail = window[cut:]
    for match in _NUMBER_CELL.finditer(tail):
        _record_number(match, wanted, found)
    return found


def _record_number(
    match: re.Match, wanted: set[tuple[int, int]], found: dict[tuple[int, int], str]
) -> None:
    key = (int(match.group(2)), _column_number(match.group(1).decode("ascii")) - 1)
    attributes = match.group(3)
    if key not in wanted or (b' t="' in attributes and b' t="n"' not in attributes):
        return
    if value := _VALUE.search(match.group(4)):
        found[key] = value.group(1).decode("ascii", "replace").strip()


_CELL_TYPES = {
    "datetime": (dt.datetime, dt.datetime.fromisoformat),
    "date": (dt.date, dt.date.fromisoformat),
    "time": (dt.time, dt.time.fromisoformat),
}


def _encode_cell(value: object) -> object:
    for name, (kind, _) in _CELL_TYPES.items():
        if isinstance(value, kind):
            return {"$" + name: value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$timedelta": value.total_seconds()}
    return str(value)


def _decode_cell(obj: dict) -> object:
    if len(obj) == 1:
        ((key, value),) = obj.items()
        if key == "$timedelta":
            return dt.timedelta(seconds=value)
        if key.startswith("$") and key[1:] in _CELL_TYPES:
            return _CELL_TYPES[key[1:]][1](value)
    return obj


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
