"""The activation list and its export match back to the school's roster (seed 01, 激活情况):
学号 and 学院, the full ID number in the export for staff entitled to the school (audited), the
page masked by default, and a student done through another school shown as such."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from audit.models import AuditEntry
from confirmations import services
from desk import exports
from enrollment.masking import mask_id_number

pytestmark = pytest.mark.django_db


@pytest.fixture
def filer(client, filer_1012):
    client.force_login(filer_1012)
    return client


def exported(client, **params) -> list[dict]:
    content = client.get(reverse("desk:activation_export"), params).getvalue()
    header, *rows = load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True)
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_activation_list_and_export_carry_student_number_and_college(filer, stored_1012):
    first = stored_1012[0]
    rows = {row["学号"]: row for row in exported(filer)}
    assert rows[first["学号"]]["学院"] == first["学院"]
    cells = filer.get(reverse("desk:activation")).context["rows"][0][1]
    line = dict(zip(exports.ACTIVATION_HEADERS, cells, strict=True))
    assert line["学号"] and line["学院"]


def test_export_carries_the_full_id_number_and_is_audited_as_a_full_id_display(filer, stored_1012):
    rows = exported(filer)
    assert {row["证件号码"] for row in rows} == {row["证件号码"] for row in stored_1012}
    entry = AuditEntry.objects.get(action=AuditEntry.Action.ID_DISPLAY, target="activation export")
    assert entry.detail["rows"] == len(stored_1012) and entry.detail["full_id_numbers"]


def test_activation_page_masks_id_numbers_by_default(filer, stored_1012):
    html = filer.get(reverse("desk:activation")).content.decode()
    assert mask_id_number(stored_1012[0]["证件号码"]) in html
    assert stored_1012[0]["证件号码"] not in html
    assert not AuditEntry.objects.filter(target="activation list").exists()


def test_activation_page_shows_full_id_numbers_on_request_and_audits_it(filer, stored_1012):
    response = filer.post(reverse("desk:activation"), {"full_id": "on"})
    html = filer.get(response.url).content.decode()
    assert stored_1012[0]["证件号码"] in html
    assert AuditEntry.objects.filter(
        action=AuditEntry.Action.ID_DISPLAY, target="activation list"
    ).exists()


def test_student_with_an_account_through_another_school_is_shown_so_not_unconfirmed(
    filer, client, stored_1012, school_1012, filer_1014, policy_year, listed_at_1014
):
    student = stored_1012[0]
    at_1014 = listed_at_1014(student)
    application = services.application_submit(
        record=at_1014, policy_year=policy_year, confirmed_by=filer_1014, paper_pledge_attested=True
    )
    services.account_create(application_id=application.pk)

    rows = {row["学号"]: row for row in exported(filer)}
    assert rows[student["学号"]]["办理状态"] == "已通过其他院校办理（已建账）"
    assert rows[student["学号"]]["统一审批编号"] is None  # nothing of the other school's shown
    elsewhere = filer.get(reverse("desk:activation"), {"status": "elsewhere"}).context["page"]
    assert [record.id_number for record in elsewhere] == [student["证件号码"]]
    unconfirmed = filer.get(reverse("desk:activation"), {"status": "unconfirmed"}).context["page"]
    assert student["证件号码"] not in {record.id_number for record in unconfirmed}


def test_activation_export_is_streamed_from_a_file_not_built_in_memory(filer, stored_1012):
    response = filer.get(reverse("desk:activation_export"))
    assert response.streaming
    rows = exported(filer)
    assert len(rows) == len(stored_1012)
    assert {row["证件号码"] for row in rows} == {row["证件号码"] for row in stored_1012}


def test_activation_export_cells_are_text_with_the_text_format(filer, stored_1012):
    sheet = load_workbook(io.BytesIO(filer.get(reverse("desk:activation_export")).getvalue()))
    cells = [cell for row in sheet.active.iter_rows(min_row=2) for cell in row if cell.value]
    assert cells and all(c.data_type == "s" and c.number_format == "@" for c in cells)


def test_desk_counts_a_student_done_through_another_school_as_elsewhere(
    filer, stored_1012, filer_1014, policy_year, listed_at_1014
):
    student = stored_1012[0]
    at_1014 = listed_at_1014(student)
    services.application_submit(
        record=at_1014, policy_year=policy_year, confirmed_by=filer_1014, paper_pledge_attested=True
    )
    progress = filer.get(reverse("desk:desk")).context["progress"]
    campus = next(row for row in progress if row["campus__code"] == student["总分校编码"])
    same_campus = sum(1 for row in stored_1012 if row["总分校编码"] == student["总分校编码"])
    assert (campus["elsewhere"], campus["unconfirmed"]) == (1, same_campus - 1)
    assert campus["uploaded"] == same_campus and campus["pending"] == 0
