"""Every export the site produces writes formula-looking cells as inert text: the portal's
workbooks and the admin's import-export files, xlsx, CSV and TSV alike."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from confirmations.admin import CoverageRecordAdmin
from enrollment import formulas, hostile
from enrollment.admin import StudentRecordAdmin
from enrollment.admin_formats import SAFE_FORMATS, InertCSV, InertTSV, SafeXLSX
from enrollment.models import StudentRecord
from enrollment.resources import StudentRecordResource

pytestmark = pytest.mark.django_db

HOSTILE_VALUES = {
    "name": '==HYPERLINK("http://e.cn","x")',
    "origin": "+1+1",
    "college": "-2+3",
    "major": "@SUM(A1)",
    "address": "\tcmd",
    "postcode": "\r12",
}


@pytest.fixture
def hostile_record(stored_1012):
    record = StudentRecord.objects.order_by("pk").first()
    StudentRecord.objects.filter(pk=record.pk).update(**HOSTILE_VALUES)
    return StudentRecord.objects.filter(pk=record.pk)


def exported(format_class, records) -> bytes | str:
    return format_class().export_data(StudentRecordResource().export(queryset=records))


@pytest.mark.parametrize("value", ["=1", "+1", "-1", "@A1", "\t1", "\r1"])
def test_every_formula_start_is_guarded_in_csv(value):
    assert formulas.inert_csv_text(value) == "'" + value
    assert formulas.strip_guard(formulas.inert_csv_text(value)) == value


@pytest.mark.parametrize("value", ["张三", "1", "'quoted", "a=b", ""])
def test_plain_values_are_left_alone(value):
    assert formulas.inert_csv_text(value) == value
    assert formulas.strip_guard(value) == value


def test_admin_offers_only_the_safe_formats():
    from enrollment.admin_formats import ROSTER_FORMATS

    assert CoverageRecordAdmin.formats == SAFE_FORMATS
    # The roster admin reads .xlsx with the roster reader; each is a safe format still.
    assert StudentRecordAdmin.formats == ROSTER_FORMATS
    assert all(issubclass(r, s) for r, s in zip(ROSTER_FORMATS, SAFE_FORMATS, strict=True))


def test_admin_xlsx_export_writes_formulas_as_exact_text(hostile_record):
    sheet = load_workbook(io.BytesIO(exported(SafeXLSX, hostile_record))).active
    header = [cell.value for cell in sheet[1]]
    cells = {header[index]: cell for index, cell in enumerate(sheet[2])}
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert cells["姓名"].value == HOSTILE_VALUES["name"]  # exact, nothing stripped
    assert cells["姓名"].quotePrefix and cells["原户籍地"].quotePrefix
    assert cells["学院"].value == "-2+3" and cells["学院"].quotePrefix
    assert not cells["学号"].quotePrefix


@pytest.mark.parametrize(("format_class", "delimiter"), [(InertCSV, ","), (InertTSV, "\t")])
def test_admin_csv_and_tsv_exports_guard_every_formula_start(
    hostile_record, format_class, delimiter
):
    text = exported(format_class, hostile_record)
    rows = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    row = rows[0]
    assert row["姓名"] == "'" + HOSTILE_VALUES["name"]
    assert row["原户籍地"] == "'+1+1" and row["学院"] == "'-2+3" and row["专业"] == "'@SUM(A1)"
    assert row["联系地址"] == "'\tcmd" and row["联系邮编"] == "'\r12"
    for value in row.values():
        assert not value.startswith(formulas.FORMULA_STARTS), value


def test_admin_csv_export_imports_back_unchanged(hostile_record):
    dataset = InertCSV(encoding="utf-8").create_dataset(exported(InertCSV, hostile_record))
    assert dataset.dict[0]["姓名"] == HOSTILE_VALUES["name"]
    assert dataset.dict[0]["学院"] == "-2+3"


def test_error_workbook_and_template_cells_are_inert(year):
    from enrollment.workbooks import build_error_workbook, build_template

    content = build_error_workbook(
        header=["姓名"], raw_rows=[(2, ["=cmd|' /C calc'!A0"])], errors=[]
    )
    cell = load_workbook(io.BytesIO(content)).active["A2"]
    assert (cell.value, cell.data_type, cell.quotePrefix) == ("=cmd|' /C calc'!A0", "s", True)
    template = load_workbook(io.BytesIO(build_template(campus_codes=["101200"])))
    assert all(
        cell.data_type != "f" for sheet in template for row in sheet.iter_rows() for cell in row
    )


def test_desk_export_marks_formula_cells_as_text(client, filer_1012, hostile_record, policy_year):
    client.force_login(filer_1012)
    response = client.get(reverse("desk:activation_export"))
    sheet = load_workbook(io.BytesIO(response.getvalue())).active
    names = [row[1] for row in sheet.iter_rows(min_row=2)]
    guarded = [cell for cell in names if cell.value == HOSTILE_VALUES["name"]]
    assert guarded and guarded[0].quotePrefix and guarded[0].data_type == "s"


# --- the admin import reads through the defensive reader -------------------------------------


@pytest.fixture
def admin_client(client, city_admin):
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client.force_login(city_admin)
    return client


def test_admin_import_refuses_a_hostile_xlsx_with_a_message(admin_client):
    response = admin_client.post(
        reverse("admin:enrollment_studentrecord_import"),
        {
            "resource": 0,
            "format": SAFE_FORMATS.index(SafeXLSX),
            "import_file": SimpleUploadedFile("r.xlsx", hostile.sparse_corner()),
        },
    )
    assert response.status_code == 200
    assert "超过 64 列" in response.content.decode()
    assert not StudentRecord.objects.exists()


def test_admin_import_reads_a_valid_xlsx_through_the_reader(admin_client, rows_1012, workbook):
    response = admin_client.post(
        reverse("admin:enrollment_studentrecord_import"),
        {
            "resource": 0,
            "format": SAFE_FORMATS.index(SafeXLSX),
            "import_file": SimpleUploadedFile("r.xlsx", workbook(rows_1012(2))),
        },
    )
    assert response.status_code == 200
    assert response.context["result"].totals["new"] == 2


@pytest.mark.parametrize("format_class", [SafeXLSX, InertCSV, InertTSV])
def test_admin_export_view_writes_no_live_formula(admin_client, hostile_record, format_class):
    fields = {f"studentrecordresource_{spec}": "on" for spec in StudentRecordResource().fields}
    response = admin_client.post(
        reverse("admin:enrollment_studentrecord_export"),
        {"format": SAFE_FORMATS.index(format_class), "resource": 0, **fields},
    )
    assert response.status_code == 200, response.content[:500]
    if format_class is SafeXLSX:
        sheet = load_workbook(io.BytesIO(response.content)).active
        cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row]
        assert HOSTILE_VALUES["name"] in [cell.value for cell in cells]
        assert all(cell.data_type != "f" for cell in cells)
        assert all(cell.quotePrefix for cell in cells if str(cell.value or "").startswith("="))
    else:
        text = response.content.decode("utf-8-sig")
        assert "'" + HOSTILE_VALUES["name"].replace('"', '""') in text
        for line in text.splitlines()[1:]:
            for value in line.split("," if format_class is InertCSV else "\t"):
                assert not value.strip('"').startswith(("=", "+", "-", "@")), value
