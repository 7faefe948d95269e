"""Hostile spreadsheets and images, built on demand: for the tests and bench/hostile_files.py.

Each builder writes the zip parts by hand, so the file is exactly as an attacker would make it
(no library tidies it up), and streams large parts through the compressor so that building a
4 GB bomb needs a few megabytes of memory. The sizes are parameters: the tests use small ones
(the limits trip at the first megabytes anyway), the bench script the full ones of issue 8.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator

from enrollment import rules

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="新生名单" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)
_SHEET_OPEN = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
)
MB = 1024 * 1024


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inline_cell(reference: str, text: str) -> str:
    return f'<c r="{reference}" t="inlineStr"><is><t>{_escape(text)}</t></is></c>'


def header_row() -> str:
    from enrollment.spreadsheets import column_letters

    cells = "".join(
        inline_cell(f"{column_letters(index)}1", header)
        for index, header in enumerate(rules.HEADERS, start=1)
    )
    return f'<row r="1">{cells}</row>'


def workbook_from_sheet(
    sheet_parts: Iterable[bytes],
    *,
    prefix_parts: dict | None = None,
    sheet_path: str = "xl/worksheets/sheet1.xml",
    sheet_target: str | None = None,
) -> bytes:
    """A minimal .xlsx whose first sheet is the concatenation of `sheet_parts` (streamed).

    `sheet_path` puts the sheet elsewhere in the zip (Excel never does; an attacker may), and
    `sheet_target` is how xl/_rels/workbook.xml.rels names it (relative to xl/ by default).
    """
    if sheet_target is None:
        sheet_target = sheet_path.removeprefix("xl/")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(
            "[Content_Types].xml",
            _CONTENT_TYPES.replace("/xl/worksheets/sheet1.xml", "/" + sheet_path),
        )
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            _WORKBOOK_RELS.replace('"worksheets/sheet1.xml"', f'"{sheet_target}"'),
        )
        for name, text in (prefix_parts or {}).items():
            archive.writestr(name, text)
        with archive.open(sheet_path, "w", force_zip64=True) as sheet:
            for part in sheet_parts:
                sheet.write(part)
    return buffer.getvalue()


def _sheet(*middle: Iterable[bytes] | bytes, dimension: str | None = None) -> Iterator[bytes]:
    opening = _SHEET_OPEN
    if dimension:
        opening += f'<dimension ref="{dimension}"/>'
    yield (opening + "<sheetData>").encode()
    for part in middle:
        if isinstance(part, bytes):
            yield part
        else:
            yield from part
    yield b"</sheetData></worksheet>"


def sparse_corner(**placement: str) -> bytes:
    """A header and one cell at XFD1048576: a parser sizing the sheet allocates 17 billion cells.

    `placement` (sheet_path, sheet_target) moves the sheet, as in `workbook_from_sheet`.
    """
    corner = f'<row r="1048576">{inline_cell("XFD1048576", "x")}</row>'.encode()
    return workbook_from_sheet(
        _sheet(header_row().encode(), corner, dimension="A1:XFD1048576"), **placement
    )


def _repeat(piece: bytes, total_bytes: int) -> Iterator[bytes]:
    block = piece * max(1, MB // len(piece))
    written = 0
    while written < total_bytes:
        yield block
        written += len(block)


def whitespace_bomb(*, uncompressed_bytes: int = 4 * 1024 * MB) -> bytes:
    """Gigabytes of spaces inside sheetData: compresses about 1,000 times."""
    return workbook_from_sheet(_sheet(header_row().encode(), _repeat(b" ", uncompressed_bytes)))


def huge_inline_string(*, uncompressed_bytes: int = 6 * 1024 * MB) -> bytes:
    """One cell holding gigabytes of text."""
    opening = b'<row r="2"><c r="A2" t="inlineStr"><is><t>'
    closing = b"</t></is></c></row>"
    return workbook_from_sheet(
        _sheet(header_row().encode(), opening, _repeat(b"A", uncompressed_bytes), closing)
    )


def long_text_cell(*, length: int = 1024 * 1024) -> bytes:
    """One cell of `length` letters that do not compress: no zip limit sees it, only its length."""
    import random

    letters = random.Random(8).choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=length)
    cell = f'<row r="2">{inline_cell("A2", "".join(letters))}</row>'.encode()
    return workbook_from_sheet(_sheet(header_row().encode(), cell))


def million_rows(*, rows: int = 1_048_575, references: bool = True, **placement: str) -> bytes:
    """One cell on each of a million rows: 5 MB with cell references, 100 KB without."""

    def lines() -> Iterator[bytes]:
        batch = []
        for number in range(2, rows + 2):
            if references:
                batch.append(f'<row r="{number}"><c r="A{number}"><v>1</v></c></row>')
            else:
                batch.append("<row><c><v>1</v></c></row>")
            if len(batch) == 10_000:
                yield "".join(batch).encode()
                batch = []
        yield "".join(batch).encode()

    return workbook_from_sheet(_sheet(header_row().encode(), lines()), **placement)


def billion_laughs(*, levels: int = 10) -> bytes:
    """XML entities that expand to 10**levels copies of a word ("billion laughs")."""
    entities = ['<!ENTITY lol0 "lol">']
    for level in range(1, levels):
        entities.append(f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">')
    doctype = f"<!DOCTYPE worksheet [{''.join(entities)}]>"
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        + doctype
        + '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        + header_row()
        + f'<row r="2"><c r="A2" t="inlineStr"><is><t>&lol{levels - 1};</t></is></c></row>'
        + "</sheetData></worksheet>"
    )
    return workbook_from_sheet([sheet.encode()])


def lying_sizes(*, uncompressed_bytes: int = 512 * MB) -> bytes:
    """A whitespace bomb whose zip headers declare a tiny uncompressed size."""
    content = bytearray(whitespace_bomb(uncompressed_bytes=uncompressed_bytes))
    archive = zipfile.ZipFile(io.BytesIO(bytes(content)))
    entry = archive.getinfo("xl/worksheets/sheet1.xml")
    name = entry.filename.encode()
    # Rewrite the central directory's size for the sheet: the plain field and the ZIP64 one.
    position = content.find(b"PK\x01\x02", 0)
    while position != -1:
        name_length = struct.unpack_from("<H", content, position + 28)[0]
        if content[position + 46 : position + 46 + name_length] == name:
            struct.pack_into("<I", content, position + 24, 1000)
            extra_length = struct.unpack_from("<H", content, position + 30)[0]
            extra = position + 46 + name_length
            end = extra + extra_length
            while extra < end:
                tag, size = struct.unpack_from("<HH", content, extra)
                if tag == 1 and size >= 8:
                    struct.pack_into("<Q", content, extra + 4, 1000)
                extra += 4 + size
        position = content.find(b"PK\x01\x02", position + 4)
    return bytes(content)


def duplicate_rows(row: dict[str, str], *, count: int = 8000) -> bytes:
    """The same valid row `count` times: each row duplicates every other one."""
    from enrollment.demo import roster_workbook

    return roster_workbook([row] * count)


# --- images ------------------------------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG declaring `width`×`height` greyscale pixels, with all its rows as one compressed
    stream of zeros: a valid image of a few hundred kilobytes that decodes to width×height bytes.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    compressor = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte + one byte per pixel
    pieces = [compressor.compress(row) for _ in range(height)]
    pieces.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(pieces))
        + chunk(b"IEND", b"")
    )
