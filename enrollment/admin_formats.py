"""The file formats the admin's import and export (django-import-export) may use.

Import: an .xlsx goes through `enrollment.spreadsheets` (inspected, parsed in a child process
with limits) instead of openpyxl in the web process; CSV/TSV are bounded in size and rows, and
the guard quote of our own exports is taken off again. Export: every cell is inert
(`enrollment.formulas`) in xlsx, CSV and TSV alike; django-import-export's own
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT only drops one leading "=". Other formats (xls, ods,
json, yaml, html) are not offered: they would bypass both.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import uuid
from collections.abc import Iterator

import tablib
from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.safestring import mark_safe
from import_export.admin import ImportExportModelAdmin
from import_export.formats import base_formats
from import_export.forms import ConfirmImportForm, ImportForm
from import_export.resources import Diff
from import_export.tmp_storages import BaseStorage
from openpyxl import Workbook

from enrollment import spreadsheets
from enrollment.formulas import inert_csv_text, inert_xlsx_cell, strip_guard
from enrollment.workbooks import save


class SafeXLSX(base_formats.XLSX):
    def create_dataset(self, in_stream: bytes) -> tablib.Dataset:
        rows = spreadsheets.read_first_sheet(bytes(in_stream)).rows
        dataset = tablib.Dataset()
        if not rows:
            return dataset
        (_, header), *data_rows = rows
        while header and header[-1] in (None, ""):
            header = header[:-1]
        dataset.headers = header
        for _, values in data_rows:
            values = (list(values) + [None] * len(header))[: len(header)]
            dataset.append(values)
        return dataset

    def export_data(self, dataset: tablib.Dataset, **kwargs: object) -> bytes:
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(dataset.title or "Sheet1")
        sheet.append([inert_xlsx_cell(sheet, _text(value)) for value in dataset.headers or []])
        for row in dataset:
            sheet.append([inert_xlsx_cell(sheet, _text(value)) for value in row])
        return save(workbook)


class RosterXLSX(SafeXLSX):
    """A roster read by the portal's own reader (`importer.read_roster`): the header found
    below a title row, blank and formatted-only rows dropped, each row with its spreadsheet
    number in the last column (`resources.ROW_NUMBER`), a wrong header refused in Chinese."""

    def create_dataset(self, in_stream: bytes) -> tablib.Dataset:
        from enrollment import importer, rules
        from enrollment.resources import ROW_NUMBER, TEMPLATE_ATTRIBUTES

        sheet = importer.read_roster(bytes(in_stream))
        dataset = tablib.Dataset(headers=[*rules.HEADERS, ROW_NUMBER])
        for number, values in sheet.rows():
            dataset.append([*(values[name] for name in TEMPLATE_ATTRIBUTES), number])
        return dataset


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# One CSV/TSV line: 64 cells of Excel's longest text would be 2 MB; a roster line is about
# 200 characters, so 64 KB leaves room for any real line and stops a file that is one line.
MAX_LINE_CHARACTERS = 64 * 1024


class _InertText:
    """CSV/TSV: bounded on import (size, rows, columns, line length, checked while parsing, one
    line at a time, so a hostile file is refused before it is held as a table), every cell
    guarded on export."""

    DELIMITER = ","

    def create_dataset(self, in_stream: bytes | str, **kwargs: object) -> tablib.Dataset:
        spreadsheets.check_file_size(len(in_stream))
        if isinstance(in_stream, bytes):
            in_stream = in_stream.decode(self.encoding or "utf-8-sig")
        dataset = tablib.Dataset()
        for number, row in enumerate(_bounded_rows(in_stream, self.DELIMITER)):
            row = [strip_guard(value) for value in row]
            if number == 0:
                dataset.headers = row
            elif row:  # as tablib: blank lines skipped, short rows padded
                width = len(dataset.headers)
                if len(row) > width:
                    raise spreadsheets.SpreadsheetRefused(
                        f"第 {number + 1} 行有 {len(row)} 列，多于标题行的 {width} 列。"
                        "请检查分隔符和引号后再导入"
                    )
                dataset.append(row + [""] * (width - len(row)))
        return dataset

    def export_data(self, dataset: tablib.Dataset, **kwargs: object) -> str:
        inert = tablib.Dataset(headers=[inert_csv_text(h) for h in dataset.headers or []])
        for row in dataset:
            inert.append([inert_csv_text(value) for value in row])
        return inert.export(self.get_title(), **kwargs)


class InertCSV(_InertText, base_formats.CSV):
    pass


class InertTSV(_InertText, base_formats.TSV):
    DELIMITER = "\t"


class _RosterText:
    """A CSV/TSV roster read as RosterXLSX reads a sheet (`importer.roster_rows`): each row
    with its number as Excel shows the file (a blank line is a row: the rows after it keep
    their numbers, where a dataset of the filled rows would renumber them), the header found
    and checked, in the last column (`resources.ROW_NUMBER`)."""

    def create_dataset(self, in_stream: bytes | str, **kwargs: object) -> tablib.Dataset:
        from enrollment import importer, rules
        from enrollment.resources import ROW_NUMBER, TEMPLATE_ATTRIBUTES

        spreadsheets.check_file_size(len(in_stream))
        if isinstance(in_stream, bytes):
            in_stream = in_stream.decode(self.encoding or "utf-8-sig")
        numbered = [
            (number, [strip_guard(value) for value in row])
            for number, row in enumerate(_bounded_rows(in_stream, self.DELIMITER), start=1)
            if any(value.strip() for value in row)
        ]
        sheet = importer.roster_rows(numbered)
        dataset = tablib.Dataset(headers=[*rules.HEADERS, ROW_NUMBER])
        for number, values in sheet.rows():
            dataset.append([*(values[name] for name in TEMPLATE_ATTRIBUTES), number])
        return dataset


class RosterCSV(_RosterText, InertCSV):
    pass


class RosterTSV(_RosterText, InertTSV):
    pass


def _bounded_rows(text: str, delimiter: str) -> Iterator[list[str]]:
    lines = _bounded_lines(text)
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        for number, row in enumerate(reader, start=1):
            if number > spreadsheets.MAX_ROWS + 1:  # the header, then the rows
                raise spreadsheets.SpreadsheetRefused(
                    f"文件超过 {spreadsheets.MAX_ROWS:,} 行的上限，请拆分成几个文件分别导入"
                )
            if len(row) > spreadsheets.MAX_COLUMNS:
                raise spreadsheets.SpreadsheetRefused(
                    f"第 {number} 行有 {len(row):,} 列，超过 {spreadsheets.MAX_COLUMNS} 列的上限。"
                    "请删除多余的列后再导入"
                )
            yield row
    except csv.Error as exc:  # a field past csv's own limit, a NUL
        raise spreadsheets.SpreadsheetRefused(
            "文件无法作为 CSV/TSV 读取（引号不配对或含有异常字符），请用 Excel 另存后再导入"
        ) from exc


def _bounded_lines(text: str) -> Iterator[str]:
    """The file's lines, refusing one longer than MAX_LINE_CHARACTERS before it is split.

    A quoted cell may span lines; its length is bounded all the same, line by line."""
    start = 0
    while start < len(text):
        end = text.find("\n", start, start + MAX_LINE_CHARACTERS + 1)
        if end == -1:
            if len(text) - start > MAX_LINE_CHARACTERS:
                raise spreadsheets.SpreadsheetRefused(
                    f"文件中有一行超过 {MAX_LINE_CHARACTERS:,} 个字符，不是正常的名单。"
                    "请检查后另存为 CSV 再导入"
                )
            end = len(text) - 1
        yield text[start : end + 1]
        start = end + 1


SAFE_FORMATS = [InertCSV, SafeXLSX, InertTSV]
ROSTER_FORMATS = [RosterCSV, RosterXLSX, RosterTSV]


class _ImportStyles:
    """The import page shows the form's media: the preview diff's colours come with it."""

    class Media:
        css = {"all": ["css/admin_import.css"]}


class StyledConfirmImportForm(_ImportStyles, ConfirmImportForm):
    pass


class BoundedImportForm(_ImportStyles, ImportForm):
    def clean_import_file(self) -> object:
        upload = self.cleaned_data["import_file"]
        try:
            spreadsheets.check_file_size(upload.size)
        except spreadsheets.SpreadsheetRefused as refused:
            raise forms.ValidationError(refused.message) from refused
        return upload


class CspSafeDiff(Diff):
    """The import preview's diff without the inline styles the Content-Security-Policy blocks
    (diff-match-patch writes `<ins style="background:#e6ffe6;">`); static/css/admin_import.css
    colours the tags instead."""

    def as_html(self) -> list[str]:
        return [mark_safe(_INLINE_STYLE.sub(r"<\1>", html)) for html in super().as_html()]


_INLINE_STYLE = re.compile(r'<(ins|del|span) style="[^"<>]*">')
_CSP_SAFE_RESOURCES: dict[type, type] = {}


def csp_safe_resource(resource_class: type) -> type:
    """`resource_class`, with its preview diff free of inline styles."""
    if resource_class not in _CSP_SAFE_RESOURCES:
        _CSP_SAFE_RESOURCES[resource_class] = type(
            resource_class.__name__, (resource_class,), {"get_diff_class": lambda self: CspSafeDiff}
        )
    return _CSP_SAFE_RESOURCES[resource_class]


class DraftExpired(Exception):
    pass


class DraftStorage(BaseStorage):
    """django-import-export's store for the file between preview and confirmation, in the
    database (`ImportDraft`): it expires after IMPORT_DRAFT_HOURS and the retention purge
    deletes it, where the default temporary folder kept every unconfirmed file forever."""

    def save(self, data: bytes | str) -> None:
        from enrollment.models import ImportDraft

        if isinstance(data, str):
            data = data.encode(self.encoding or "utf-8")
        self.name = self.name or uuid.uuid4().hex
        ImportDraft.objects.update_or_create(name=self.name, defaults={"content": data})

    def read(self) -> bytes | str:
        from enrollment.models import ImportDraft

        since = timezone.now() - dt.timedelta(hours=settings.IMPORT_DRAFT_HOURS)
        content = (
            ImportDraft.objects.filter(name=self.name or "", created_at__gte=since)
            .values_list("content", flat=True)
            .first()
        )
        if content is None:
            raise DraftExpired(self.name)
        content = bytes(content)
        return content if "b" in self.read_mode else content.decode(self.encoding or "utf-8")

    def remove(self) -> None:
        from enrollment.models import ImportDraft

        ImportDraft.objects.filter(name=self.name or "").delete()


class SafeImportExportModelAdmin(ImportExportModelAdmin):
    """Every admin with import/export uses this: safe formats, bounded files, Chinese refusals."""

    formats = SAFE_FORMATS
    import_form_class = BoundedImportForm
    confirm_form_class = StyledConfirmImportForm
    tmp_storage_class = DraftStorage

    def process_import(self, request: HttpRequest, **kwargs: object) -> HttpResponse:
        try:
            return super().process_import(request, **kwargs)
        except DraftExpired:
            messages.error(
                request,
                f"预览过的文件已超过 {settings.IMPORT_DRAFT_HOURS} 小时未确认，已被清除。请重新选择文件导入",
            )
            return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_import")

    def get_import_resource_classes(self, request: object) -> list[type]:
        return [csp_safe_resource(cls) for cls in super().get_import_resource_classes(request)]

    def add_data_read_fail_error_to_form(self, form: forms.Form, e: Exception) -> None:
        from enrollment.importer import RosterRefused

        if isinstance(e, spreadsheets.SpreadsheetRefused | RosterRefused):
            form.add_error("import_file", e.message)
        else:
            super().add_data_read_fail_error_to_form(form, e)
