"""Hostile roster uploads through the site and the worker: refused or failed with a message,
results bounded, nothing heavy loaded by lists, the status poll or the admin.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from enrollment import hostile, importer, services, spreadsheets
from enrollment.models import RosterUpload, StudentRecord

pytestmark = pytest.mark.django_db


def post_upload(client, capture, school, year, content, name="名单.xlsx"):
    with capture(execute=True):
        return client.post(
            reverse("enrollment:upload_new"),
            {"school": school.pk, "year": year, "file": SimpleUploadedFile(name, content)},
        )


@pytest.fixture
def filer_client(client, filer_1012):
    client.force_login(filer_1012)
    return client


@pytest.fixture
def duplicated_upload(
    filer_client, django_capture_on_commit_callbacks, school_1012, year, rows_1012
):
    """4,000 copies of one row: every row duplicates every other one (ID and student number)."""
    content = hostile.duplicate_rows(rows_1012(1)[0], count=4000)
    post_upload(filer_client, django_capture_on_commit_callbacks, school_1012, year, content)
    return RosterUpload.objects.get()


def test_sparse_corner_cell_upload_is_refused_and_the_site_keeps_serving(
    filer_client, django_capture_on_commit_callbacks, school_1012, year
):
    response = post_upload(
        filer_client, django_capture_on_commit_callbacks, school_1012, year, hostile.sparse_corner()
    )
    upload = RosterUpload.objects.get()
    assert upload.state == RosterUpload.State.REFUSED
    assert "16,384 列" in upload.refusal["message"]
    page = filer_client.get(response.url)
    assert page.status_code == 200 and "超过 64 列" in page.content.decode()
    assert filer_client.get(reverse("enrollment:dashboard")).status_code == 200


def test_duplicate_rows_store_bounded_errors_with_their_total(duplicated_upload):
    upload = RosterUpload.objects.get(pk=duplicated_upload.pk)
    assert (upload.state, upload.rows_total, upload.rows_with_errors) == (
        RosterUpload.State.CHECKED,
        4000,
        4000,
    )
    assert upload.errors_total == 8000  # ID number and student number on every row
    assert len(upload.errors) == importer.REPORTED_ERRORS
    assert len(json.dumps(upload.errors, ensure_ascii=False).encode()) < 150_000
    assert "与第 3 行等 3999 行重复" in upload.errors[0]["message"]


def test_error_workbook_is_built_once_and_has_every_error(duplicated_upload, filer_client):
    upload = RosterUpload.objects.get(pk=duplicated_upload.pk)
    assert upload.error_workbook
    sheet = load_workbook(io.BytesIO(bytes(upload.error_workbook)), read_only=True).active
    messages = [row[-1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert len(messages) == 4000 and all("重复" in message for message in messages)


def test_error_workbook_download_never_reads_the_file_again(
    duplicated_upload, filer_client, monkeypatch
):
    def no_parsing(*args, **kwargs):
        raise AssertionError("the web process read the uploaded file")

    monkeypatch.setattr(spreadsheets, "read_first_sheet", no_parsing)
    monkeypatch.setattr(importer, "read_roster", no_parsing)
    response = filer_client.get(reverse("enrollment:upload_errors", args=[duplicated_upload.pk]))
    assert response.status_code == 200
    stored = RosterUpload.objects.values_list("error_workbook", flat=True).get()
    assert response.content == bytes(stored)


def test_detail_page_lists_the_first_errors_and_points_to_the_workbook(
    duplicated_upload, filer_client
):
    page = filer_client.get(reverse("enrollment:upload_detail", args=[duplicated_upload.pk]))
    html = page.content.decode()
    assert "共 8000 处" in html and "另有 7500 处" in html


def _selected_columns(queries) -> str:
    return " ".join(query["sql"].split(" FROM ")[0] for query in queries)


@pytest.mark.parametrize(
    "url_name", ["enrollment:upload_status", "enrollment:dashboard", "admin-list"]
)
def test_lists_and_status_poll_never_load_the_file_or_the_results(
    duplicated_upload, client, city_admin, url_name
):
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client.force_login(city_admin)
    if url_name == "admin-list":
        url = reverse("admin:enrollment_rosterupload_changelist")
    elif url_name == "enrollment:upload_status":
        url = reverse(url_name, args=[duplicated_upload.pk])
    else:
        url = reverse(url_name)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    selected = _selected_columns(queries.captured_queries)
    for column in ("content", "errors", "changes", "error_workbook"):
        assert f'"enrollment_rosterupload"."{column}"' not in selected, column


def test_admin_change_page_shows_the_bounded_results(duplicated_upload, client, city_admin):
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client.force_login(city_admin)
    url = reverse("admin:enrollment_rosterupload_change", args=[duplicated_upload.pk])
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    selected = _selected_columns(queries.captured_queries)
    assert '"enrollment_rosterupload"."content"' not in selected
    assert '"enrollment_rosterupload"."error_workbook"' not in selected


# --- a reader that dies, a check that keeps dying ---------------------------------------------


def test_file_that_kills_its_reader_fails_the_upload_with_a_message(
    filer_client,
    django_capture_on_commit_callbacks,
    school_1012,
    year,
    rows_1012,
    workbook,
    monkeypatch,
):
    monkeypatch.setattr(
        spreadsheets, "_child_command", lambda: [sys.executable, "-c", "import os; os.abort()"]
    )
    response = post_upload(
        filer_client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows_1012(2))
    )
    upload = RosterUpload.objects.get()
    assert upload.state == RosterUpload.State.FAILED
    assert "信号 6" in upload.refusal["message"]
    page = filer_client.get(response.url).content.decode()
    assert "文件未能检查" in page and "限定的内存" in page
    assert StudentRecord.objects.count() == 0


def test_check_claimed_too_often_is_failed_not_retried(
    filer_1012, school_1012, year, rows_1012, workbook, monkeypatch
):
    monkeypatch.setattr("enrollment.services.enqueue_on_commit", lambda *a, **k: None)
    upload = services.roster_upload_create(
        user=filer_1012,
        school=school_1012,
        year=year,
        file_name="a.xlsx",
        content=workbook(rows_1012(2)),
    )
    # Three workers died while checking it (a redelivered message each time).
    RosterUpload.objects.filter(pk=upload.pk).update(
        state=RosterUpload.State.CHECKING, check_attempts=services.MAX_CHECK_ATTEMPTS
    )
    services.roster_upload_check(upload_id=upload.pk)
    upload.refresh_from_db()
    assert upload.state == RosterUpload.State.FAILED
    assert "已尝试检查 3 次" in upload.refusal["message"]


def test_each_check_counts_a_claim(filer_1012, school_1012, year, rows_1012, workbook, monkeypatch):
    monkeypatch.setattr("enrollment.services.enqueue_on_commit", lambda *a, **k: None)
    upload = services.roster_upload_create(
        user=filer_1012,
        school=school_1012,
        year=year,
        file_name="a.xlsx",
        content=workbook(rows_1012(2)),
    )
    services.roster_upload_check(upload_id=upload.pk)
    upload.refresh_from_db()
    assert (upload.state, upload.check_attempts) == (RosterUpload.State.CHECKED, 1)


def test_sweeper_requeues_an_upload_stuck_in_checking(
    filer_1012, school_1012, year, rows_1012, workbook, monkeypatch
):
    monkeypatch.setattr("enrollment.services.enqueue_on_commit", lambda *a, **k: None)
    upload = services.roster_upload_create(
        user=filer_1012,
        school=school_1012,
        year=year,
        file_name="a.xlsx",
        content=workbook(rows_1012(2)),
    )
    RosterUpload.objects.filter(pk=upload.pk).update(
        state=RosterUpload.State.CHECKING,
        check_attempts=1,
        last_queued_at=timezone.now() - dt.timedelta(minutes=10),
    )
    assert services.uploads_requeue_stale(older_than=dt.timedelta(minutes=3)) == 1
    upload.refresh_from_db()
    assert (upload.state, upload.check_attempts) == (RosterUpload.State.CHECKED, 2)


# --- the error workbook writes back what the file held ------------------------------------------


def test_error_workbook_writes_a_numeric_id_cell_as_the_file_held_it(
    filer_client, django_capture_on_commit_callbacks, school_1012, year, rows_1012
):
    """310109200806061614 typed into a number cell: Excel keeps 15 digits and stores
    <v>3.10109200806062E+17</v>. That text comes back, not an invented 18-digit number."""
    from enrollment.spreadsheets import column_letters

    row = rows_1012(1)[0]
    cells = []
    for index, value in enumerate(row.values(), start=1):
        reference = f"{column_letters(index)}2"
        if index == 3:
            cells.append(f'<c r="{reference}"><v>3.10109200806062E+17</v></c>')
        else:
            cells.append(hostile.inline_cell(reference, value))
    sheet = f'{hostile.header_row()}<row r="2">{"".join(cells)}</row>'
    content = hostile.workbook_from_sheet(
        [(hostile._SHEET_OPEN + "<sheetData>" + sheet + "</sheetData></worksheet>").encode()]
    )
    post_upload(filer_client, django_capture_on_commit_callbacks, school_1012, year, content)
    upload = RosterUpload.objects.get()
    assert upload.errors[0]["column"] == "证件号码"
    written = load_workbook(io.BytesIO(bytes(upload.error_workbook))).active["C2"].value
    assert written == "3.10109200806062E+17"


def test_download_before_the_workbook_is_ready_says_so(duplicated_upload, filer_client):
    RosterUpload.objects.filter(pk=duplicated_upload.pk).update(error_workbook=None)
    response = filer_client.get(reverse("enrollment:upload_errors", args=[duplicated_upload.pk]))
    assert response.url == reverse("enrollment:upload_detail", args=[duplicated_upload.pk])
    assert "正在生成" in filer_client.get(response.url).content.decode()


def test_committed_upload_keeps_an_error_workbook_of_its_rejected_rows(
    filer_client, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    rows = rows_1012(3)
    rows[1]["民族"] = ""
    post_upload(filer_client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows))
    upload = RosterUpload.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        filer_client.post(reverse("enrollment:upload_commit", args=[upload.pk]))
    upload.refresh_from_db()
    assert upload.state == RosterUpload.State.COMMITTED and StudentRecord.objects.count() == 2
    sheet = load_workbook(io.BytesIO(bytes(upload.error_workbook))).active
    assert "民族" in sheet.cell(row=3, column=19).value


# --- the operator's --max-rows is not the browser's (issue 14) ---------------------------------


def test_upload_cannot_raise_the_row_limit(
    filer_client, django_capture_on_commit_callbacks, school_1012, year
):
    """A form field named like the command's option changes nothing: the worker reads every
    upload under the upload's limits."""
    content = hostile.million_rows(rows=100_001)
    with django_capture_on_commit_callbacks(execute=True):
        filer_client.post(
            reverse("enrollment:upload_new"),
            {
                "school": school_1012.pk,
                "year": year,
                "file": SimpleUploadedFile("名单.xlsx", content),
                "max_rows": "250000",
                "max-rows": "250000",
                "limits": "250000",
            },
        )
    upload = RosterUpload.objects.get()
    assert upload.state == RosterUpload.State.REFUSED
    assert "100,000 行" in upload.refusal["message"]
    assert StudentRecord.objects.count() == 0
