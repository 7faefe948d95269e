"""The filer's pages as issue 13 found them: the record form, the preview, edit and delete."""

from __future__ import annotations

import pytest
from django.urls import reverse

from enrollment import rules

pytestmark = pytest.mark.django_db
EMPTY_FORM = {spec.attribute: "" for spec in rules.FIELDS}  # what a browser posts


def test_empty_new_record_form_shows_every_required_field_error_at_once(client, filer_1012):
    client.force_login(filer_1012)
    response = client.post(reverse("enrollment:record_create"), EMPTY_FORM)
    form = response.context["form"]
    required = {spec.attribute for spec in rules.FIELDS if spec.required}
    assert required <= set(form.errors)


def test_empty_drop_down_asks_to_choose_not_to_fill_in(client, filer_1012):
    client.force_login(filer_1012)
    form = client.post(reverse("enrollment:record_create"), EMPTY_FORM).context["form"]
    assert form.errors["sex"] == ["请选择性别"]
    assert form.errors["campus_code"] == ["请选择总分校编码"]
    assert form.errors["name"] == ["姓名不能为空，请填写"]


# --- defect 12: the error workbook is what the file held, and a working template ----------------


def _upload(client, capture, school, year, content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(school._filer) if hasattr(school, "_filer") else None
    with capture(execute=True):
        client.post(
            reverse("enrollment:upload_new"),
            {"school": school.pk, "year": year, "file": SimpleUploadedFile("名单.xlsx", content)},
        )


def _sheet_with_id_cell(row: dict, id_cell: str) -> bytes:
    from enrollment import hostile
    from enrollment.spreadsheets import column_letters

    cells = []
    for index, value in enumerate(row.values(), start=1):
        reference = f"{column_letters(index)}2"
        cells.append(
            id_cell.format(reference=reference)
            if index == 3
            else hostile.inline_cell(reference, value)
        )
    sheet = f'{hostile.header_row()}<row r="2">{"".join(cells)}</row>'
    return hostile.workbook_from_sheet(
        [(hostile._SHEET_OPEN + "<sheetData>" + sheet + "</sheetData></worksheet>").encode()]
    )


def test_error_workbook_writes_back_an_18_digit_number_cell_digit_for_digit(
    client, filer_1012, django_capture_on_commit_callbacks, school_1012, year, rows_1012
):
    """A tool that stores the whole number (<v>310109200806061614</v>): as a float it would be
    …632; the error workbook writes the 18 digits the file held, as text."""
    import io

    from openpyxl import load_workbook

    from enrollment.models import RosterUpload

    content = _sheet_with_id_cell(
        rows_1012(1)[0], '<c r="{reference}"><v>310109200806061614</v></c>'
    )
    client.force_login(filer_1012)
    _upload(client, django_capture_on_commit_callbacks, school_1012, year, content)
    upload = RosterUpload.objects.get()
    assert upload.errors[0]["column"] == "证件号码"  # a number cell is still refused
    cell = load_workbook(io.BytesIO(bytes(upload.error_workbook))).active["C2"]
    assert (cell.value, cell.data_type, cell.number_format) == ("310109200806061614", "s", "@")


def test_error_workbook_has_the_templates_drop_downs_and_code_sheet(
    client, filer_1012, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    import io

    from openpyxl import load_workbook

    from enrollment.models import RosterUpload

    rows = rows_1012(2)
    rows[1]["性别"] = "3"
    client.force_login(filer_1012)
    _upload(client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows))
    book = load_workbook(io.BytesIO(bytes(RosterUpload.objects.get().error_workbook)))
    assert book.sheetnames == ["新生名单", "代码说明"]
    lists = {
        str(validation.sqref).split(":")[0]: validation.formula1
        for validation in book["新生名单"].data_validations.dataValidation
    }
    assert lists["G2"] == '"1,2"'  # 性别
    assert lists["L2"] == '"101200,101201"'  # the school's campuses
    codes = [row for row in book["代码说明"].iter_rows(values_only=True)]
    assert ("性别", "2", "女") in codes and ("总分校编码", "101201", "分校") in codes
