"""Batch confirmation by an uploaded list: the name, when given, must be the roster's; the
result page names who was confirmed, who was skipped and why, and its counts add up to the
file's rows; the template keeps ID numbers as text."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from audit.models import AuditEntry
from confirmations.models import Application, BatchConfirmation
from desk.models import IdListUpload
from enrollment.masking import mask_id_number

pytestmark = pytest.mark.django_db


@pytest.fixture
def filer(client, filer_1012):
    client.force_login(filer_1012)
    return client


def id_list(*rows, title: str | None = None, serial: bool = False) -> bytes:
    book = Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
    sheet.append([*(["序号"] if serial else []), "*证件号码", "姓名"])
    for number, row in enumerate(rows, start=1):
        sheet.append([*([number] if serial else []), *row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(client, school, content, capture):
    with capture(execute=True):
        response = client.post(
            reverse("desk:batch_upload"),
            {
                "school": school.pk,
                "attested": "on",
                "file": SimpleUploadedFile("list.xlsx", content),
            },
        )
    return response


def test_name_that_differs_from_the_roster_is_not_confirmed_and_is_listed_in_full(
    filer, school_1012, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    right, typo = stored_1012[0], stored_1012[1]
    content = id_list(
        (right["证件号码"], right["姓名"]),
        (typo["证件号码"], "王不对"),  # an ID number typed into the wrong student's
    )
    upload(filer, school_1012, content, django_capture_on_commit_callbacks)
    batch = BatchConfirmation.objects.get()
    assert list(Application.objects.values_list("id_number", flat=True)) == [right["证件号码"]]
    (skipped,) = batch.results["skipped"]
    assert (skipped["kind"], skipped["row"], skipped["id"]) == (
        "name_mismatch",
        3,
        typo["证件号码"],
    )
    html = filer.get(reverse("desk:batch_detail", args=[batch.pk])).content.decode()
    assert typo["证件号码"] in html and "王不对" in html and typo["姓名"] in html
    assert AuditEntry.objects.filter(
        action=AuditEntry.Action.ID_DISPLAY, target=f"batch:{batch.pk}"
    ).exists()


def test_names_in_the_list_compare_as_names_do(
    filer, school_1012, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    student = stored_1012[0]
    spaced = " ".join(student["姓名"])  # "王 小 明": the same name
    upload(
        filer,
        school_1012,
        id_list((student["证件号码"], spaced)),
        django_capture_on_commit_callbacks,
    )
    assert Application.objects.count() == 1


def test_a_list_without_names_confirms_by_id_number_as_before(
    filer, school_1012, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    content = id_list((stored_1012[0]["证件号码"], None), (stored_1012[1]["证件号码"], ""))
    upload(filer, school_1012, content, django_capture_on_commit_callbacks)
    assert Application.objects.count() == 2


def test_result_page_counts_add_up_to_the_rows_of_the_file(
    filer, school_1012, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    first, second, third = stored_1012[:3]
    content = id_list(
        (first["证件号码"], first["姓名"]),  # confirmed
        (second["证件号码"], "王不对"),  # name mismatch
        (first["证件号码"], first["姓名"]),  # duplicate of row 2
        ("310104200001011234", ""),  # not on the roster
        (None, third["姓名"]),  # no ID number
        title="2026 级新生代确认名单",
        serial=True,
    )
    upload(filer, school_1012, content, django_capture_on_commit_callbacks)
    batch = BatchConfirmation.objects.get()
    response = filer.get(reverse("desk:batch_detail", args=[batch.pk]))
    assert response.context["total"] == 5 == batch.results["file_rows"]
    assert response.context["lines_total"] == 5
    kinds = [item["kind"] for item in batch.results["skipped"]]
    assert kinds == ["name_mismatch", "duplicate", "not_found", "missing_id"]
    html = response.content.decode()
    assert "所选人数（名单中的行）" in html and "与所选人数一致" in html
    assert first["姓名"] in html  # who was confirmed, by name
    assert "与第 3 行的证件号码重复" in html and "缺少证件号码" in html
    assert mask_id_number("310104200001011234") in html and "310104200001011234" not in html


def test_a_list_where_every_row_is_skipped_still_shows_why(
    filer, school_1012, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    content = id_list((stored_1012[0]["证件号码"], "王不对"))
    response = upload(filer, school_1012, content, django_capture_on_commit_callbacks)
    assert IdListUpload.objects.get().state == IdListUpload.State.DONE
    batch = BatchConfirmation.objects.get()
    assert batch.state == BatchConfirmation.State.DONE and not Application.objects.exists()
    assert filer.get(response.url).url == reverse("desk:batch_detail", args=[batch.pk])


def test_selected_students_result_page_names_who_was_confirmed_and_adds_up(
    filer, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    from enrollment.models import StudentRecord

    ids = list(StudentRecord.objects.order_by("pk").values_list("pk", flat=True)[:2])
    with django_capture_on_commit_callbacks(execute=True):
        response = filer.post(reverse("desk:batch_confirm"), {"ids": ids, "attested": "on"})
    page = filer.get(response.url)
    assert page.context["total"] == page.context["lines_total"] == 2
    for record in StudentRecord.objects.filter(pk__in=ids):
        assert record.name in page.content.decode()


def test_id_list_template_formats_the_id_column_as_text(filer):
    content = filer.get(reverse("desk:batch_template")).content
    sheet = load_workbook(io.BytesIO(content)).active
    assert [cell.value for cell in sheet[1]] == ["证件号码", "姓名"]
    assert sheet["A2"].number_format == "@" and sheet["A500"].number_format == "@"
