"""The django-import-export Resource: the template's 18 headers, and admin import through the rules."""

from __future__ import annotations

import pytest
import tablib

from enrollment import rules
from enrollment.models import StudentRecord
from enrollment.resources import StudentRecordResource

pytestmark = pytest.mark.django_db


def dataset(rows) -> tablib.Dataset:
    data = tablib.Dataset(headers=list(rules.HEADERS))
    for row in rows:
        data.append([row[h] for h in rules.HEADERS])
    return data


def test_resource_declares_the_18_headers_in_template_order():
    assert StudentRecordResource().get_export_headers() == list(rules.HEADERS)


def test_admin_import_stores_valid_rows(city_admin, rows_1012):
    result = StudentRecordResource(user=city_admin).import_data(
        dataset(rows_1012(2)), dry_run=False
    )
    assert not result.has_errors() and not result.has_validation_errors()
    assert StudentRecord.objects.count() == 2


def test_admin_import_rejects_rows_that_break_the_rules(city_admin, rows_1012):
    rows = rows_1012(2)
    rows[1]["性别"] = "3"
    result = StudentRecordResource(user=city_admin).import_data(dataset(rows), dry_run=False)
    assert result.has_validation_errors()
    invalid = result.invalid_rows[0]
    assert "性别" in invalid.error_dict


def test_admin_import_updates_instead_of_duplicating(city_admin, rows_1012):
    rows = rows_1012(1)
    StudentRecordResource(user=city_admin).import_data(dataset(rows), dry_run=False)
    rows[0]["专业"] = "人工智能"
    StudentRecordResource(user=city_admin).import_data(dataset(rows), dry_run=False)
    assert StudentRecord.objects.get().major == "人工智能"


def test_export_writes_dates_as_template_text(city_admin, rows_1012):
    rows = rows_1012(1)
    StudentRecordResource(user=city_admin).import_data(dataset(rows), dry_run=False)
    exported = StudentRecordResource().export()
    assert exported.dict[0]["报到注册日期"] == rows[0]["报到注册日期"]


def test_admin_pages_load_for_city_admin(client, city_admin):
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client.force_login(city_admin)
    for url in [
        "/admin/enrollment/studentrecord/",
        "/admin/enrollment/studentrecord/import/",
        "/admin/schools/school/",
        "/admin/schools/user/",
        "/admin/enrollment/rosterupload/",
        "/admin/confirmations/policyyear/",
        "/admin/confirmations/coveragerecord/",
        "/admin/confirmations/coveragerecord/import/",
        "/admin/confirmations/application/",
        "/admin/confirmations/batchconfirmation/",
        "/admin/schools/filerdesignation/",
        "/admin/schools/district/",
        "/admin/schools/campus/",
    ]:
        assert client.get(url).status_code == 200, url


# --- issue 13 defect 10: the admin import follows the portal's reader, rules and messages -------


def test_admin_import_numbers_rows_as_the_portal_preview_does(city_admin, rows_1012):
    rows = rows_1012(3)
    rows[1]["性别"] = "3"  # the second data row: row 3 of the sheet, header = row 1
    result = StudentRecordResource(user=city_admin).import_data(dataset(rows), dry_run=True)
    assert [invalid.number for invalid in result.invalid_rows] == [3]


def test_admin_import_names_columns_in_chinese(city_admin, rows_1012):
    rows = rows_1012(1)
    rows[0]["性别"] = "3"
    result = StudentRecordResource(user=city_admin).import_data(dataset(rows), dry_run=True)
    assert list(result.invalid_rows[0].field_specific_errors) == ["性别"]
    assert result.invalid_rows[0].field_specific_errors["性别"] == ["性别只能填代码：1 男、2 女"]


def test_admin_import_ignores_blank_formatted_rows(city_admin, rows_1012):
    data = dataset(rows_1012(2))
    for _ in range(50):  # the template's formatted rows, as a CSV or a sheet hands them over
        data.append([""] * len(rules.HEADERS))
    result = StudentRecordResource(user=city_admin).import_data(data, dry_run=False)
    assert not result.has_validation_errors() and StudentRecord.objects.count() == 2


def test_admin_import_flags_duplicates_within_the_file(city_admin, rows_1012):
    rows = rows_1012(2)
    rows.append(dict(rows[0]))
    result = StudentRecordResource(user=city_admin).import_data(dataset(rows), dry_run=True)
    numbers = {invalid.number: invalid.field_specific_errors for invalid in result.invalid_rows}
    assert set(numbers) == {2, 4}
    assert "与第 4 行重复" in numbers[2]["证件号码"][0]


def test_admin_xlsx_import_reads_the_official_template_with_the_portal_reader(
    client, city_admin, rows_1012
):
    """The template's 5,000 formatted rows are not rows; a title row above the header is found;
    errors give the sheet's row numbers."""
    import io

    from openpyxl import load_workbook

    from enrollment.workbooks import build_template

    book = load_workbook(io.BytesIO(build_template(campus_codes=["101200", "101201"])))
    sheet = book.active
    sheet.insert_rows(1)
    sheet["A1"] = "上海某某大学 新生名单"
    rows = rows_1012(3)
    rows[2]["性别"] = "3"
    for number, row in enumerate(rows, start=3):
        for column, header in enumerate(rules.HEADERS, start=1):
            sheet.cell(row=number, column=column, value=row[header])
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    buffer.name = "名单.xlsx"
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client.force_login(city_admin)
    response = client.post(
        "/admin/enrollment/studentrecord/import/",
        {"format": "1", "resource": "0", "import_file": buffer},
    )
    assert response.context["form"].errors == {}
    result = response.context["result"]
    assert result.total_rows == 3
    assert [
        (invalid.number, list(invalid.field_specific_errors)) for invalid in result.invalid_rows
    ] == [(5, ["性别"])]


# --- issue 13 defect 11: the admin speaks Chinese ------------------------------------------------

PORTAL_APPS = {"schools", "enrollment", "confirmations", "audit"}


def _chinese(text: object) -> bool:
    return any("\u4e00" <= character <= "\u9fff" for character in str(text))


def _portal_admins():
    from django.contrib import admin

    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in PORTAL_APPS
    ]


def test_every_admin_column_header_is_chinese(rf, city_admin):
    from django.contrib.admin.utils import label_for_field

    request = rf.get("/admin/")
    request.user = city_admin
    english = [
        f"{model.__name__}.{name}: {label_for_field(name, model, model_admin)}"
        for model, model_admin in _portal_admins()
        for name in model_admin.get_list_display(request)
        if name != "__str__" and not _chinese(label_for_field(name, model, model_admin))
    ]
    assert english == [], english


def test_every_admin_field_and_model_name_is_chinese():
    english = [
        f"{model.__name__}.{field.name}: {field.verbose_name}"
        for model, _ in _portal_admins()
        for field in model._meta.get_fields()
        if getattr(field, "verbose_name", None) and field.concrete and not field.auto_created
        if not _chinese(field.verbose_name) and field.name not in {"password"}
    ]
    english += [
        model.__name__ for model, _ in _portal_admins() if not _chinese(model._meta.verbose_name)
    ]
    assert english == [], english


def test_signed_pledge_channel_shows_its_chinese_label():
    from confirmations.models import Application, SignedPledge

    field = SignedPledge._meta.get_field("channel")
    assert dict(field.choices) == dict(Application.Channel.choices)
    pledge = SignedPledge(channel=Application.Channel.SELF)
    assert pledge.get_channel_display() == "本人办理"


def test_pledge_text_with_an_unknown_placeholder_is_refused_with_the_known_ones(policy_year):
    from django.core.exceptions import ValidationError

    policy_year.pledge_text = "本人 {name}，学号 {student_no}，承诺……"
    with pytest.raises(ValidationError) as refused:
        policy_year.full_clean()
    message = " ".join(refused.value.message_dict["pledge_text"])
    assert "{student_no}" in message and "{student_number}" in message


def test_pledge_text_with_an_unbalanced_brace_is_refused(policy_year):
    from django.core.exceptions import ValidationError

    policy_year.pledge_text = "本人 {name，承诺……"
    with pytest.raises(ValidationError):
        policy_year.full_clean()


def test_policy_year_admin_edits_the_benefit_table_as_lines_not_json(
    client, city_admin, policy_year
):
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client.force_login(city_admin)
    page = client.get(f"/admin/confirmations/policyyear/{policy_year.pk}/change/")
    html = page.content.decode()
    assert 'name="benefit_rules-0-fund_share_percent"' in html
    assert "待遇表（就医政策）" in html


def test_admin_import_page_says_which_rows_failed_in_chinese(client, city_admin, rows_1012):
    import io

    rows = rows_1012(2)
    rows[1]["性别"] = "3"
    content = dataset(rows).export("csv").encode("utf-8")
    upload = io.BytesIO(content)
    upload.name = "名单.csv"
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client.force_login(city_admin)
    response = client.post(
        "/admin/enrollment/studentrecord/import/",
        {"format": "0", "resource": "0", "import_file": upload},
    )
    html = response.content.decode()
    assert "以下行未通过检查" in html and "性别只能填代码" in html
    assert "某些行验数据证失败" not in html


# --- CSV/TSV through the admin: rows keep the file's numbers (issue 14, secondary) -------------


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_admin_text_import_numbers_rows_as_the_file_after_blank_lines(
    city_admin, rows_1012, delimiter
):
    """A blank line is a row of the sheet Excel shows: the row after it keeps its number."""
    from enrollment.admin_formats import ROSTER_FORMATS

    rows = rows_1012(2)
    rows[1]["性别"] = "3"
    lines = [
        delimiter.join(rules.HEADERS),
        delimiter.join(rows[0][h] for h in rules.HEADERS),
        "",
        "",
        delimiter.join(rows[1][h] for h in rules.HEADERS),  # line 5 of the file
    ]
    (kind,) = [f for f in ROSTER_FORMATS if getattr(f, "DELIMITER", None) == delimiter]
    data = kind(encoding="utf-8").create_dataset("\r\n".join(lines).encode())
    result = StudentRecordResource(user=city_admin).import_data(data, dry_run=True)
    assert [invalid.number for invalid in result.invalid_rows] == [5]
