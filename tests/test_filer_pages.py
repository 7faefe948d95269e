"""The filer's pages as issue 13 found them: the record form, the preview, edit and delete."""

from __future__ import annotations

from urllib.parse import quote

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


# --- what a filer expects (issue 13) -------------------------------------------------------------


@pytest.fixture
def stored(school_1012, filer_1012, year, rows_1012, workbook):
    from enrollment.importer import roster_import

    rows = rows_1012(5)
    roster_import(
        content=workbook(rows), school=school_1012, year=year, user=filer_1012, commit=True
    )
    return rows


@pytest.fixture
def confirmed(stored, policy_year):
    """The first stored student has confirmed (an application refers to the record)."""
    from confirmations.models import Application
    from enrollment.models import StudentRecord

    record = StudentRecord.objects.get(id_number=stored[0]["证件号码"])
    Application.objects.create(
        policy_year=policy_year,
        record=record,
        id_number=record.id_number,
        name=record.name,
        channel=Application.Channel.SELF,
    )
    return record


def _post_upload(client, capture, school, year, content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from enrollment.models import RosterUpload

    with capture(execute=True):
        client.post(
            reverse("enrollment:upload_new"),
            {"school": school.pk, "year": year, "file": SimpleUploadedFile("名单.xlsx", content)},
        )
    return RosterUpload.objects.latest("created_at")


def test_committed_upload_shows_the_next_steps(
    client, filer_1012, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    client.force_login(filer_1012)
    upload = _post_upload(
        client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows_1012(2))
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("enrollment:upload_commit", args=[upload.pk]))
    html = client.get(reverse("enrollment:upload_detail", args=[upload.pk])).content.decode()
    assert "下一步" in html
    assert f"{reverse('enrollment:record_list')}?school={school_1012.pk}&amp;year={year}" in html
    assert f"{reverse('desk:activation')}?school={school_1012.pk}" in html


def test_error_table_names_the_student_and_shows_the_bad_value_masked(
    client, filer_1012, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    rows = rows_1012(2)
    wrong_id = rows[1]["证件号码"][:-1] + ("0" if rows[1]["证件号码"][-1] != "0" else "1")
    rows[1]["证件号码"] = wrong_id
    rows[0]["联系电话"] = "1391234567"
    client.force_login(filer_1012)
    upload = _post_upload(
        client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows)
    )
    by_column = {error["column"]: error for error in upload.errors}
    assert by_column["证件号码"]["name"] == rows[1]["姓名"]
    assert by_column["证件号码"]["value"] == wrong_id[:3] + "*****" + wrong_id[-2:]
    assert by_column["联系电话"]["value"] == "********67"
    html = client.get(reverse("enrollment:upload_detail", args=[upload.pk])).content.decode()
    assert rows[1]["姓名"] in html and wrong_id not in html and "1391234567" not in html


def test_filer_of_one_school_finds_it_already_chosen(client, filer_1014, registry):
    client.force_login(filer_1014)
    form = client.get(reverse("enrollment:upload_new")).context["form"]
    assert form.fields["school"].initial == registry["schools"]["1014"].pk
    assert "selected" in str(form["school"])


def test_edit_returns_to_the_list_page_and_search_it_came_from(client, filer_1012, stored):
    from enrollment.models import StudentRecord

    client.force_login(filer_1012)
    listing = client.post(reverse("enrollment:record_list"), {"q": stored[1]["姓名"]}, follow=True)
    back = listing.context["back"]
    assert back.startswith(reverse("enrollment:record_list") + "?s=")
    record = StudentRecord.objects.get(id_number=stored[1]["证件号码"])
    assert f"?next={quote(back, safe='/')}" in listing.content.decode().replace("&amp;", "&")
    data = {spec.attribute: stored[1][spec.header] for spec in rules.FIELDS}
    response = client.post(
        reverse("enrollment:record_edit", args=[record.pk]), {**data, "next": back}
    )
    assert response.status_code == 302 and response.url == back


@pytest.mark.parametrize(
    "target",
    [
        "https://elsewhere.example/enrollment/records/",
        "//elsewhere.example/",
        "/enrollment/records/?q=310101200701011234",
        "/enrollment/records/?school=310101200701011234",
        "/enrollment/records/?page=1&phone=13912345678",
    ],
)
def test_edit_ignores_a_next_address_off_site_or_carrying_personal_data(
    client, filer_1012, stored, target
):
    from enrollment.models import StudentRecord

    client.force_login(filer_1012)
    record = StudentRecord.objects.get(id_number=stored[1]["证件号码"])
    data = {spec.attribute: stored[1][spec.header] for spec in rules.FIELDS}
    response = client.post(
        reverse("enrollment:record_edit", args=[record.pk]), {**data, "next": target}
    )
    assert response.url == reverse("enrollment:record_list")


def test_delete_confirmation_shows_whom_it_deletes(client, filer_1012, stored):
    from enrollment.models import StudentRecord

    client.force_login(filer_1012)
    record = StudentRecord.objects.get(id_number=stored[2]["证件号码"])
    html = client.post(reverse("enrollment:record_delete"), {"ids": [record.pk]}).content.decode()
    masked = record.id_number[:3] + "*****" + record.id_number[-2:]
    assert record.name in html and masked in html and record.student_number in html
    assert record.id_number not in html


def test_confirmed_students_are_marked_and_not_offered_for_deletion(client, filer_1012, confirmed):
    client.force_login(filer_1012)
    html = client.get(reverse("enrollment:record_list")).content.decode()
    assert "已确认" in html
    assert f'name="ids" value="{confirmed.pk}"' not in html
    page = client.post(reverse("enrollment:record_delete"), {"ids": [confirmed.pk]})
    assert page.context["count"] == 0 and list(page.context["kept"]) == [confirmed]
    assert "确认删除" not in page.content.decode().split("<h1>")[1].split("</h1>")[0]


def test_delete_service_refuses_a_confirmed_student(filer_1012, confirmed):
    from enrollment import services
    from enrollment.models import StudentRecord

    outcome = services.records_delete(user=filer_1012, record_ids=[confirmed.pk])
    assert (outcome.deleted, outcome.kept_confirmed) == (0, 1)
    assert StudentRecord.objects.filter(pk=confirmed.pk).exists()


def test_edit_from_a_later_page_returns_to_that_page(
    client, filer_1012, registry, year, rows_1012, workbook, school_1012
):
    from enrollment.importer import roster_import

    roster_import(
        content=workbook(rows_1012(60)), school=school_1012, year=year, user=filer_1012, commit=True
    )
    client.force_login(filer_1012)
    listing = client.get(reverse("enrollment:record_list") + "?page=2")
    assert listing.context["back"] == reverse("enrollment:record_list") + "?page=2"


def test_edit_from_the_query_page_returns_to_it(client, filer_1012, stored, policy_year):
    import re
    from html import unescape
    from urllib.parse import unquote

    from enrollment.models import StudentRecord

    record = StudentRecord.objects.get(id_number=stored[3]["证件号码"])
    client.force_login(filer_1012)
    found = client.post(reverse("desk:query"), {"q": record.student_number}, follow=True)
    query_page = found.request["PATH_INFO"] + "?" + found.request["QUERY_STRING"]
    link = re.search(r'href="([^"]*/records/\d+/edit/[^"]*)"', found.content.decode()).group(1)
    assert unquote(unescape(link).split("next=", 1)[1]) == query_page
    data = {spec.attribute: stored[3][spec.header] for spec in rules.FIELDS}
    response = client.post(unescape(link), data)
    assert response.status_code == 302 and response.url == query_page


def test_deletion_returns_to_the_list_page_and_search_it_started_from(client, filer_1012, stored):
    from enrollment.models import StudentRecord

    client.force_login(filer_1012)
    listing = client.post(reverse("enrollment:record_list"), {"q": stored[4]["姓名"]}, follow=True)
    back = listing.context["back"]
    record = StudentRecord.objects.get(id_number=stored[4]["证件号码"])
    asked = client.post(reverse("enrollment:record_delete"), {"ids": [record.pk], "next": back})
    assert f'href="{back}"' in asked.content.decode().replace("&amp;", "&")  # 取消
    done = client.post(
        reverse("enrollment:record_delete"), {"ids": [record.pk], "next": back, "confirm": "yes"}
    )
    assert done.url == back and not StudentRecord.objects.filter(pk=record.pk).exists()
