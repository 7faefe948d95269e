"""The filer's upload journey in the browser: choose a school, upload, preview, commit."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from enrollment import rules
from enrollment.models import RosterUpload, StudentRecord

pytestmark = pytest.mark.django_db


def xlsx(content: bytes, name: str = "名单.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def upload(client, capture, school, year, content, name="名单.xlsx"):
    with capture(execute=True):
        response = client.post(
            reverse("enrollment:upload_new"),
            {"school": school.pk, "year": year, "file": xlsx(content, name)},
        )
    return response


@pytest.fixture
def filer_client(client, filer_1012):
    client.force_login(filer_1012)
    return client


def test_upload_page_offers_only_schools_in_scope(filer_client, registry):
    response = filer_client.get(reverse("enrollment:upload_new"))
    choices = [str(choice[1]) for choice in response.context["form"].fields["school"].choices]
    assert choices == ["请选择院校", "1012 上海某某大学"]


def test_upload_page_requires_login(client, registry):
    response = client.get(reverse("enrollment:upload_new"))
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_upload_for_a_school_out_of_scope_is_refused(
    filer_client, registry, year, rows_1012, workbook
):
    response = filer_client.post(
        reverse("enrollment:upload_new"),
        {
            "school": registry["schools"]["1013"].pk,
            "year": year,
            "file": xlsx(workbook(rows_1012(1))),
        },
    )
    assert response.status_code == 200
    assert "school" in response.context["form"].errors
    assert RosterUpload.objects.count() == 0


def test_upload_shows_preview_counts_and_stores_nothing(
    filer_client, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    rows = rows_1012(3)
    rows[1]["证件类型"] = "8"
    response = upload(
        filer_client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows)
    )
    page = filer_client.get(response.url)
    upload_ = page.context["upload"]
    assert (upload_.state, upload_.rows_total, upload_.rows_valid, upload_.rows_with_errors) == (
        RosterUpload.State.CHECKED,
        3,
        2,
        1,
    )
    html = page.content.decode()
    assert "证件类型只能填代码" in html and ">3<" in html
    assert StudentRecord.objects.count() == 0


def test_preview_is_served_from_the_database_not_the_request(
    filer_client, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    response = upload(
        filer_client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows_1012(2))
    )
    stored = RosterUpload.objects.get()
    assert bytes(stored.content).startswith(b"PK")
    assert response.url == reverse("enrollment:upload_detail", args=[stored.pk])


def test_commit_stores_valid_rows_and_reports_counts(
    filer_client, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    response = upload(
        filer_client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows_1012(3))
    )
    stored = RosterUpload.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        filer_client.post(reverse("enrollment:upload_commit", args=[stored.pk]))
    stored.refresh_from_db()
    assert stored.state == RosterUpload.State.COMMITTED
    assert stored.result == {"inserted": 3, "updated": 0, "unchanged": 0}
    assert StudentRecord.objects.count() == 3
    assert "已提交" in filer_client.get(response.url).content.decode()


def test_commit_twice_stores_once(
    filer_client, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    upload(
        filer_client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows_1012(2))
    )
    stored = RosterUpload.objects.get()
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            filer_client.post(reverse("enrollment:upload_commit", args=[stored.pk]))
    stored.refresh_from_db()
    assert stored.result["inserted"] == 2
    assert StudentRecord.objects.count() == 2


def test_commit_of_a_file_without_valid_rows_is_refused(
    filer_client, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    rows = rows_1012(1)
    rows[0]["姓名"] = ""
    upload(filer_client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows))
    stored = RosterUpload.objects.get()
    filer_client.post(reverse("enrollment:upload_commit", args=[stored.pk]))
    stored.refresh_from_db()
    assert stored.state == RosterUpload.State.CHECKED


def test_refused_file_shows_message_not_server_error(
    filer_client, django_capture_on_commit_callbacks, school_1012, year
):
    response = upload(
        filer_client,
        django_capture_on_commit_callbacks,
        school_1012,
        year,
        b"not a spreadsheet",
        "x.xlsx",
    )
    page = filer_client.get(response.url)
    assert page.status_code == 200
    assert "不是 Excel .xlsx 格式" in page.content.decode()
    assert RosterUpload.objects.get().state == RosterUpload.State.REFUSED


def test_wrong_headers_page_shows_expected_against_found(
    filer_client, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    headers = [*rules.HEADERS[:-1], "备注"]
    content = workbook([dict(r, 备注="x") for r in rows_1012(1)], headers=headers)
    response = upload(filer_client, django_capture_on_commit_callbacks, school_1012, year, content)
    html = filer_client.get(response.url).content.decode()
    assert "参保意愿" in html and "备注" in html and "表头与导入模板不一致" in html


def test_status_endpoint_reports_progress(
    filer_client, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    response = upload(
        filer_client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows_1012(2))
    )
    stored = RosterUpload.objects.get()
    status = filer_client.get(reverse("enrollment:upload_status", args=[stored.pk])).json()
    assert status == {
        "state": "checked",
        "state_label": "检查完成，待提交",
        "rows_total": 2,
        "rows_checked": 2,
        "in_progress": False,
    }
    assert response.status_code == 302


def test_queued_upload_shows_progress_page_that_polls(
    filer_client, school_1012, year, rows_1012, workbook, filer_1012
):
    stored = RosterUpload.objects.create(
        school=school_1012,
        enrollment_year=year,
        uploaded_by=filer_1012,
        file_name="a.xlsx",
        content=b"PK",
    )
    html = filer_client.get(reverse("enrollment:upload_detail", args=[stored.pk])).content.decode()
    assert "progress" in html and reverse("enrollment:upload_status", args=[stored.pk]) in html


def test_another_users_upload_is_not_found(
    client,
    django_capture_on_commit_callbacks,
    filer_client,
    handler_minhang,
    school_1012,
    year,
    rows_1012,
    workbook,
):
    upload(
        filer_client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows_1012(1))
    )
    stored = RosterUpload.objects.get()
    client.force_login(handler_minhang)
    assert client.get(reverse("enrollment:upload_detail", args=[stored.pk])).status_code == 404
    assert client.get(reverse("enrollment:upload_errors", args=[stored.pk])).status_code == 404
    assert client.post(reverse("enrollment:upload_commit", args=[stored.pk])).status_code == 404


def test_error_workbook_highlights_bad_cells_and_adds_error_column(
    filer_client, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    rows = rows_1012(3)
    rows[1]["性别"] = "3"
    upload(filer_client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows))
    stored = RosterUpload.objects.get()
    response = filer_client.get(reverse("enrollment:upload_errors", args=[stored.pk]))
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    assert header == [*rules.HEADERS, "错误说明"]
    sex_column = rules.HEADERS.index("性别") + 1
    bad = sheet.cell(row=3, column=sex_column)
    assert bad.value == "3" and bad.fill.fgColor.rgb.endswith("FFC7CE")
    assert "性别" in sheet.cell(row=3, column=19).value
    assert sheet.cell(row=2, column=19).value is None
    assert sheet.cell(row=2, column=3).value == rows[0]["证件号码"]  # IDs stay full text


def test_error_workbook_can_be_uploaded_again(
    filer_client, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    rows = rows_1012(2)
    rows[1]["性别"] = "3"
    upload(filer_client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows))
    first = RosterUpload.objects.get()
    errors_file = filer_client.get(reverse("enrollment:upload_errors", args=[first.pk])).content
    upload(filer_client, django_capture_on_commit_callbacks, school_1012, year, errors_file)
    second = RosterUpload.objects.exclude(pk=first.pk).get()
    assert (second.state, second.rows_total, second.rows_valid) == ("checked", 2, 1)


def test_updated_records_show_changes_before_commit(
    filer_client, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    rows = rows_1012(1)
    upload(filer_client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows))
    with django_capture_on_commit_callbacks(execute=True):
        filer_client.post(reverse("enrollment:upload_commit", args=[RosterUpload.objects.get().pk]))
    rows[0]["学院"] = "新学院"
    response = upload(
        filer_client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows)
    )
    html = filer_client.get(response.url).content.decode()
    assert "将被更新的记录" in html and "新学院" in html


def test_template_download_has_18_text_columns_and_code_lists(filer_client, registry):
    response = filer_client.get(reverse("enrollment:template") + "?school=1012")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(response.content))
    sheet = book.worksheets[0]
    assert [cell.value for cell in sheet[1]] == list(rules.HEADERS)
    assert sheet["C2"].number_format == "@" and sheet["M500"].number_format == "@"
    lists = {str(dv.sqref)[0]: dv.formula1 for dv in sheet.data_validations.dataValidation}
    assert lists["B"] == '"1,2,3,4,5,6,7,9"'
    assert lists["L"] == '"101200,101201"'
    assert book.worksheets[1].title == "代码说明"
    codes_text = str([row for row in book.worksheets[1].iter_rows(values_only=True)])
    assert "港澳台居民居住证" in codes_text and "保留入学资格" in codes_text


def test_dashboard_lists_campuses_in_scope_with_counts(filer_client, registry):
    html = filer_client.get(reverse("enrollment:dashboard")).content.decode()
    assert "101200" in html and "101201" in html and "101300" not in html


def test_unexpected_commit_error_returns_the_upload_to_checked(
    filer_client,
    django_capture_on_commit_callbacks,
    school_1012,
    year,
    rows_1012,
    workbook,
    monkeypatch,
):
    upload(
        filer_client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows_1012(2))
    )
    stored = RosterUpload.objects.get()

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("enrollment.importer._store", broken)
    with django_capture_on_commit_callbacks(execute=True):
        filer_client.post(reverse("enrollment:upload_commit", args=[stored.pk]))
    stored.refresh_from_db()
    assert stored.state == RosterUpload.State.CHECKED and "系统出错" in stored.result["failed"]
    assert StudentRecord.objects.count() == 0


def test_upload_whose_check_task_was_lost_is_queued_again(
    filer_client, filer_1012, school_1012, year, rows_1012, workbook, monkeypatch
):
    import datetime as dt

    from django.utils import timezone

    from enrollment import services

    monkeypatch.setattr("enrollment.services.enqueue_on_commit", lambda *a, **k: None)
    upload_ = services.roster_upload_create(
        user=filer_1012,
        school=school_1012,
        year=year,
        file_name="a.xlsx",
        content=workbook(rows_1012(2)),
    )
    assert services.uploads_requeue_stale(older_than=dt.timedelta(minutes=3)) == 0
    RosterUpload.objects.update(last_queued_at=timezone.now() - dt.timedelta(minutes=5))
    assert services.uploads_requeue_stale(older_than=dt.timedelta(minutes=3)) == 1
    upload_.refresh_from_db()
    assert (upload_.state, upload_.rows_valid) == (RosterUpload.State.CHECKED, 2)
