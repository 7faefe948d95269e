"""The .xlsx files the portal hands out: the registration template and the error workbook."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from enrollment import rules, spreadsheets
from enrollment.formulas import inert_xlsx_cell, make_inert
from enrollment.resources import StudentRecordResource

TEXT_FORMAT = "@"
TEMPLATE_DATA_ROWS = 5000  # rows pre-formatted as text, beyond the column style Excel applies
ERROR_COLUMN = rules.IGNORED_HEADERS[0]
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_ERROR_FILL = PatternFill("solid", fgColor="FFC7CE")
_ERROR_FONT = Font(color="9C0006")
_BOLD = Font(bold=True)


def template_headers() -> list[str]:
    """The 18 headers, in order, as the import-export Resource declares them."""
    return StudentRecordResource().get_export_headers()


def build_template(*, campus_codes: Iterable[str] = ()) -> bytes:
    """The registration template: 18 text columns, code drop-downs, and a sheet of codes."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "新生名单"
    headers = template_headers()
    sheet.append(headers)
    sheet.freeze_panes = "A2"
    for cell in sheet[1]:
        make_inert(cell)

    for index, spec in enumerate(rules.FIELDS, start=1):
        letter = get_column_letter(index)
        cell = sheet.cell(row=1, column=index)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.number_format = TEXT_FORMAT
        hint = f"{spec.header}：字符型，最长 {spec.width} 位" + ("，必填" if spec.required else "")
        if spec.note:
            hint += f"。{spec.note}"
        cell.comment = Comment(hint, "医保新生申报")
        column = sheet.column_dimensions[letter]
        column.width = max(10, min(24, spec.width + 4))
        # Text format on the column and its first rows keeps Excel from turning 18-digit
        # IDs, codes with leading zeros and dates into numbers.
        column.number_format = TEXT_FORMAT
        for row in range(2, TEMPLATE_DATA_ROWS + 2):
            sheet.cell(row=row, column=index).number_format = TEXT_FORMAT

    campus_codes = sorted(campus_codes)
    _add_drop_downs(sheet, list(rules.HEADERS), campus_codes, last_row=TEMPLATE_DATA_ROWS + 1)
    _add_codes_sheet(workbook, campus_codes)
    return save(workbook)


def _add_drop_downs(
    sheet: object, headers: list[str], campus_codes: list[str], *, last_row: int
) -> None:
    """The code lists (and the school's campus codes) as drop-downs under their headers."""
    choices = {spec.header: list(spec.codes) for spec in rules.FIELDS if spec.codes}
    if campus_codes:
        choices["总分校编码"] = campus_codes
    for index, header in enumerate(headers, start=1):
        if header not in choices:
            continue
        spec = rules.FIELD_BY_HEADER[header]
        letter = get_column_letter(index)
        validation = DataValidation(
            type="list",
            formula1='"' + ",".join(choices[header]) + '"',
            allow_blank=not spec.required,
            showErrorMessage=True,
            errorTitle=f"{spec.header}代码不正确",
            error="请从下拉列表中选择，代码含义见“代码说明”工作表",
            promptTitle=spec.header,
            prompt=_codes_line(spec, choices[header])[:255],
        )
        validation.add(f"{letter}2:{letter}{last_row}")
        sheet.data_validations.append(validation)  # write-only sheets have no add_… method


def build_id_list_template() -> bytes:
    """The ID list for confirming on students' behalf: 证件号码 and 姓名, both text columns.

    The ID column is text on the column and its first rows, so that Excel keeps an 18-digit
    number as typed instead of rounding it to 15 significant digits.
    """
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "代确认名单"
    headers = ["证件号码", "姓名"]
    notes = [
        "证件号码：文本格式，按学生纸质承诺书填写完整号码",
        "姓名：与院校名单一致；填写后会与名单核对，不一致的不代确认",
    ]
    sheet.append(headers)
    sheet.freeze_panes = "A2"
    for index, (letter, width) in enumerate((("A", 24), ("B", 14)), start=1):
        cell = sheet.cell(row=1, column=index)
        make_inert(cell)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.comment = Comment(notes[index - 1], "医保新生申报")
        column = sheet.column_dimensions[letter]
        column.width = width
        column.number_format = TEXT_FORMAT
        for row in range(1, TEMPLATE_DATA_ROWS + 2):
            sheet.cell(row=row, column=index).number_format = TEXT_FORMAT
    return save(workbook)


def _codes_line(spec: rules.FieldSpec, codes: list[str]) -> str:
    if spec.codes:
        return "；".join(f"{code} {spec.codes[code]}" for code in codes)
    return "、".join(codes)


def _add_codes_sheet(workbook: Workbook, campus_codes: list[str]) -> None:
    """The 代码说明 sheet: every code and field rule. Written cell by cell, so that the same
    code serves the template (an ordinary workbook) and the error workbook (write-only)."""
    sheet = workbook.create_sheet("代码说明")
    for letter, width in (("A", 16), ("B", 30), ("C", 60)):
        sheet.column_dimensions[letter].width = width
    rows: list[tuple[list[str], bool]] = [(["字段", "代码", "含义"], True)]
    for spec in rules.FIELDS:
        if spec.codes:
            rows += [([spec.header, code, label], False) for code, label in spec.codes.items()]
    for code in campus_codes:
        rows.append((["总分校编码", code, "总校" if code.endswith("00") else "分校"], False))
    rows += [([], False), (["填写要求"], True)]
    for spec in rules.FIELDS:
        requirement = f"字符型，最长 {spec.width} 位，{'必填' if spec.required else '选填'}"
        rows.append(([spec.header, requirement, spec.note], False))
    for values, heading in rows:
        cells = []
        for value in values:
            cell = inert_xlsx_cell(sheet, value)
            cell.number_format = TEXT_FORMAT
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            if heading:
                cell.font = _BOLD
                cell.fill = _HEADER_FILL
            cells.append(cell)
        sheet.append(cells)


def build_error_workbook(
    *,
    header: list[object],
    raw_rows: Iterable[tuple[int, list[object]]],
    errors: list[dict],
    campus_codes: Iterable[str] = (),
) -> bytes:
    """The uploaded rows as they came, bad cells highlighted, messages in a last column.

    Row numbers stay those of the uploaded file, so the preview's messages still point at them,
    and the file can be corrected and uploaded again as it is: it is a working template, with
    the template's drop-downs and its 代码说明 sheet.
    """
    messages_by_row: dict[int, list[dict]] = defaultdict(list)
    for error in errors:
        messages_by_row[error["row"]].append(error)

    normalized_header = [rules.normalize_header(value) for value in header]
    header_names = [
        name for name in normalized_header if name and name not in rules.IGNORED_HEADERS
    ]
    column_of = {name: index for index, name in enumerate(normalized_header) if name}
    width = len(header_names)

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("新生名单")
    sheet.freeze_panes = "A2"
    sheet.append(header_cells(sheet, [*header_names, ERROR_COLUMN]))

    next_row = 2
    for row_number, values in raw_rows:
        # Keep the original numbering: blank rows that the reader skipped stay blank here.
        while next_row < row_number:
            sheet.append([])
            next_row += 1
        row_errors = messages_by_row.get(row_number, [])
        bad_columns = {error["column"] for error in row_errors}
        cells = []
        for name in header_names:
            index = column_of[name]
            value = values[index] if index < len(values) else None
            cell = text_cell(sheet, value)
            if name in bad_columns:
                cell.fill = _ERROR_FILL
                cell.font = _ERROR_FONT
            cells.append(cell)
        message = "；".join(f"{e['column']}：{e['message']}" for e in row_errors)
        error_cell = inert_xlsx_cell(sheet, message or None)
        error_cell.font = _ERROR_FONT
        cells.append(error_cell)
        sheet.append(cells)
        next_row += 1
    sheet.auto_filter.ref = f"A1:{get_column_letter(width + 1)}{max(next_row - 1, 1)}"
    campus_codes = sorted(campus_codes)
    _add_drop_downs(
        sheet, header_names, campus_codes, last_row=max(next_row, TEMPLATE_DATA_ROWS + 1)
    )
    _add_codes_sheet(workbook, campus_codes)
    return save(workbook)


def header_cells(sheet: object, names: Iterable[str]) -> list[WriteOnlyCell]:
    cells = []
    for name in names:
        cell = inert_xlsx_cell(sheet, name)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cells.append(cell)
    return cells


def text_cell(sheet: object, value: object) -> WriteOnlyCell:
    """A cell that goes back as text: it keeps its digits and can never run as a formula."""
    if value is None:
        return WriteOnlyCell(sheet, value=None)
    cell = inert_xlsx_cell(sheet, as_written(value))
    cell.number_format = TEXT_FORMAT
    return cell


def as_written(value: object) -> str:
    """A cell's value as the file held it, as text.

    A number keeps the digits the file stored: 310109200806061614 typed into a number cell is
    stored by Excel as 3.10109200806062E+17 and comes back as that, not as a made-up 18-digit
    integer (int() of the float would invent the last digits).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, spreadsheets.ExactNumber):
        return value.text
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, float):
        return repr(value).upper() if "e" in repr(value) else repr(value)
    return rules.normalize_text(value)


def save(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
