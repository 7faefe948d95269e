"""Issue 8 on the staff desk: the ID-list upload is read by a worker, never in the request;
hostile lists are refused with a message; an invalid filter never widens a batch action."""

from __future__ import annotations

import datetime as dt
import io
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from confirmations.models import Application, BatchConfirmation
from desk import services
from desk.models import IdListUpload
from enrollment import hostile, spreadsheets
from enrollment.models import StudentRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def filer(client, filer_1012):
    client.force_login(filer_1012)
    return client


def id_list(*numbers: str) -> bytes:
    book = Workbook()
    book.active.append(["证件号码"])
    for number in numbers:
        book.active.append([number])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def post_list(client, school, content, capture=None):
    data = {"school": school.pk, "attested": "on", "file": SimpleUploadedFile("l.xlsx", content)}
    if capture is None:
        return client.post(reverse("desk:batch_upload"), data)
    with capture(execute=True):
        return client.post(reverse("desk:batch_upload"), data)


def test_id_list_is_not_parsed_in_the_web_request(
    filer, school_1012, stored_1012, policy_year, monkeypatch
):
    def no_parsing(*args, **kwargs):
        raise AssertionError("the web request parsed the uploaded list")

    monkeypatch.setattr(spreadsheets, "read_first_sheet", no_parsing)
    monkeypatch.setattr("python_calamine.CalamineWorkbook.from_filelike", no_parsing)
    response = post_list(filer, school_1012, hostile.sparse_corner())  # no worker runs here
    upload = IdListUpload.objects.get()
    assert response.url == reverse("desk:id_list_detail", args=[upload.pk])
    assert upload.state == IdListUpload.State.QUEUED
    page = filer.get(response.url).content.decode()
    assert "排队等待读取" in page and 'http-equiv="refresh"' in page


@pytest.mark.parametrize(
    ("build", "phrase"),
    [
        (hostile.sparse_corner, "16,384 列"),
        (hostile.million_rows, "100,000 行"),
        (hostile.billion_laughs, "实体"),
        (lambda: hostile.whitespace_bomb(uncompressed_bytes=300 * 1024 * 1024), "MB"),
    ],
    ids=["sparse-corner", "million-rows", "billion-laughs", "zip-bomb"],
)
def test_hostile_id_list_is_refused_with_the_limit_named(
    filer, school_1012, stored_1012, policy_year, django_capture_on_commit_callbacks, build, phrase
):
    response = post_list(filer, school_1012, build(), django_capture_on_commit_callbacks)
    upload = IdListUpload.objects.get()
    assert upload.state == IdListUpload.State.REFUSED and phrase in upload.message
    assert bytes(upload.content) == b""
    assert phrase in filer.get(response.url).content.decode()
    assert not BatchConfirmation.objects.exists()


def test_id_list_whose_reader_dies_is_failed_with_a_message(
    filer, school_1012, stored_1012, policy_year, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(
        spreadsheets, "_child_command", lambda: [sys.executable, "-c", "import os; os.abort()"]
    )
    content = id_list(stored_1012[0]["证件号码"])
    post_list(filer, school_1012, content, django_capture_on_commit_callbacks)
    upload = IdListUpload.objects.get()
    assert upload.state == IdListUpload.State.FAILED and "限定的内存" in upload.message
    assert not Application.objects.exists()


def test_id_list_read_too_often_is_failed(filer_1012, school_1012, stored_1012, policy_year):
    upload = IdListUpload.objects.create(
        created_by=filer_1012,
        school=school_1012,
        policy_year=policy_year,
        file_name="l.xlsx",
        content=id_list(stored_1012[0]["证件号码"]),
        paper_pledges_attested=True,
        state=IdListUpload.State.READING,
        read_attempts=services.MAX_READ_ATTEMPTS,
    )
    services.id_list_upload_read(upload_id=upload.pk)
    upload.refresh_from_db()
    assert upload.state == IdListUpload.State.FAILED and "已尝试读取 3 次" in upload.message
    assert not BatchConfirmation.objects.exists()


def test_sweeper_reads_an_id_list_whose_task_was_lost(
    filer_1012, school_1012, stored_1012, policy_year, monkeypatch
):
    monkeypatch.setattr("desk.services.enqueue_on_commit", lambda *a, **k: None)
    upload = services.id_list_upload_create(
        user=filer_1012,
        school=school_1012,
        policy_year=policy_year,
        file_name="l.xlsx",
        content=id_list(stored_1012[0]["证件号码"]),
        attested=True,
    )
    IdListUpload.objects.update(last_queued_at=timezone.now() - dt.timedelta(minutes=5))
    assert services.id_lists_requeue_stale(older_than=dt.timedelta(minutes=3)) == 1
    upload.refresh_from_db()
    assert upload.state == IdListUpload.State.DONE and upload.batch is not None


def test_another_users_id_list_is_not_found(
    client, filer_1012, handler_minhang, school_1012, policy_year
):
    upload = IdListUpload.objects.create(
        created_by=filer_1012,
        school=school_1012,
        policy_year=policy_year,
        file_name="l.xlsx",
        content=b"",
        paper_pledges_attested=True,
    )
    client.force_login(handler_minhang)
    assert client.get(reverse("desk:id_list_detail", args=[upload.pk])).status_code == 404


# --- an invalid filter never widens a batch action ---------------------------------------------


def searched(client, **fields) -> str:
    """The query string of a search made as the page makes it: POSTed, kept under a token."""
    response = client.post(reverse("desk:activation"), fields)
    assert response.status_code == 302
    return "?" + response.url.split("?", 1)[1]


@pytest.mark.parametrize(
    "query",
    ["search-too-long", "?school=999999", "?campus=abc"],
    ids=["search-too-long", "school-out-of-scope", "campus-not-a-number"],
)
def test_confirm_all_matching_with_an_invalid_filter_confirms_nobody(
    filer, registry, stored_1012, policy_year, django_capture_on_commit_callbacks, query
):
    if "school" in query:
        query = f"?school={registry['schools']['1014'].pk}"  # exists, but not the filer's
    if query == "search-too-long":
        query = searched(filer, q="张" * 51)
    with django_capture_on_commit_callbacks(execute=True):
        response = filer.post(
            reverse("desk:batch_confirm") + query, {"scope": "all_matching", "attested": "on"}
        )
    assert not BatchConfirmation.objects.exists() and not Application.objects.exists()
    page = filer.get(response.url)
    html = page.content.decode()
    assert "筛选条件有误" in html and "未代确认任何学生" in html
    assert page.context["page"].paginator.count == 0  # the list does not widen either


def test_confirm_all_matching_with_an_expired_search_confirms_nobody(
    filer, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = filer.post(
            reverse("desk:batch_confirm") + "?s=expired-or-unknown",
            {"scope": "all_matching", "attested": "on"},
        )
    assert not BatchConfirmation.objects.exists() and not Application.objects.exists()
    assert "查询条件已过期" in filer.get(response.url).content.decode()


def test_confirm_all_matching_with_a_valid_filter_confirms_only_the_matches(
    filer, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    record = StudentRecord.objects.order_by("pk").first()
    with django_capture_on_commit_callbacks(execute=True):
        filer.post(
            reverse("desk:batch_confirm") + searched(filer, q=record.student_number),
            {"scope": "all_matching", "attested": "on"},
        )
    assert list(Application.objects.values_list("record_id", flat=True)) == [record.pk]


def test_export_with_an_invalid_filter_is_refused(filer, stored_1012, policy_year):
    response = filer.get(reverse("desk:activation_export") + searched(filer, q="张" * 51))
    assert response.status_code == 302
    assert "未导出" in filer.get(response.url).content.decode()
