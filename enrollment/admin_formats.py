"""The file formats the admin's import and export (django-import-export) may use.

Import: an .xlsx goes through `enrollment.spreadsheets` (inspected, parsed in a child process
with limits) instead of openpyxl in the web process; CSV/TSV are bounded in size and rows, and
the guard quote of our own exports is taken off again. Export: every cell is inert
(`enrollment.formulas`) in xlsx, CSV and TSV alike; django-import-export's own
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT only drops one leading "=". Other formats (xls, ods,
json, yaml, html) are not offered: they would bypass both.
"""

from __future__ import annotations

import tablib
from django import forms
from import_export.admin import ImportExportModelAdmin
from import_export.formats import base_formats
from import_export.forms import ImportForm
from openpyxl import Workbook

from enrollment import spreadsheets
from enrollment.formulas import inert_csv_text, inert_xlsx_cell, strip_guard
from enrollment.workbooks import save

_TOO_LARGE = f"文件超过 {spreadsheets.MAX_FILE_BYTES // (1024 * 1024)} MB，请拆分成几个文件分别导入"


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
        for number, values in sheet.rows:
            dataset.append([*(values[name] for name in TEMPLATE_ATTRIBUTES), number])
        return dataset


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class _InertText:
    """CSV/TSV: bounded on import, every cell guarded on export."""

    def create_dataset(self, in_stream: bytes | str, **kwargs: object) -> tablib.Dataset:
        if len(in_stream) > spreadsheets.MAX_FILE_BYTES:
            raise spreadsheets.SpreadsheetRefused(_TOO_LARGE)
        newline = b"\n" if isinstance(in_stream, bytes) else "\n"
        if in_stream.count(newline) > spreadsheets.MAX_ROWS:
            raise spreadsheets.SpreadsheetRefused(
                f"文件超过 {spreadsheets.MAX_ROWS:,} 行的上限，请拆分成几个文件分别导入"
            )
        dataset = super().create_dataset(in_stream, **kwargs)
        guarded = tablib.Dataset(headers=[strip_guard(str(h)) for h in dataset.headers or []])
        for row in dataset:
            guarded.append(
                [strip_guard(value) if isinstance(value, str) else value for value in row]
            )
        return guarded

    def export_data(self, dataset: tablib.Dataset, **kwargs: object) -> str:
        inert = tablib.Dataset(headers=[inert_csv_text(h) for h in dataset.headers or []])
        for row in dataset:
            inert.append([inert_csv_text(value) for value in row])
        return inert.export(self.get_title(), **kwargs)


class InertCSV(_InertText, base_formats.CSV):
    pass


class InertTSV(_InertText, base_formats.TSV):
    pass


SAFE_FORMATS = [InertCSV, SafeXLSX, InertTSV]
ROSTER_FORMATS = [InertCSV, RosterXLSX, InertTSV]


class BoundedImportForm(ImportForm):
    def clean_import_file(self) -> object:
        upload = self.cleaned_data["import_file"]
        if upload.size > spreadsheets.MAX_FILE_BYTES:
            raise forms.ValidationError(_TOO_LARGE)
        return upload


class SafeImportExportModelAdmin(ImportExportModelAdmin):
    """Every admin with import/export uses this: safe formats, bounded files, Chinese refusals."""

    formats = SAFE_FORMATS
    import_form_class = BoundedImportForm

    def add_data_read_fail_error_to_form(self, form: forms.Form, e: Exception) -> None:
        from enrollment.importer import RosterRefused

        if isinstance(e, spreadsheets.SpreadsheetRefused | RosterRefused):
            form.add_error("import_file", e.message)
        else:
            super().add_data_read_fail_error_to_form(form, e)
