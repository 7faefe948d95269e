"""Scope is the user's designations as they are now, on every page that shows stored data.

On main a filer who lost a designation still opened their old upload previews, error
workbooks (full ID numbers and phones) and batch pages; the query page showed the city-wide
account of any ID number on a record in scope.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from confirmations.models import Application, BatchConfirmation
from enrollment.importer import roster_import
from enrollment.models import RosterUpload, StudentRecord
from schools.models import FilerDesignation

pytestmark = pytest.mark.django_db


@pytest.fixture
def old_upload(
    client, filer_1012, school_1012, year, rows_1012, workbook, django_capture_on_commit_callbacks
):
    rows = rows_1012(3)
    rows[1]["性别"] = "3"  # one error, so the error workbook exists
    client.force_login(filer_1012)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("enrollment:upload_new"),
            {
                "school": school_1012.pk,
                "year": year,
                "file": SimpleUploadedFile("名单.xlsx", workbook(rows)),
            },
        )
    upload = RosterUpload.objects.get()
    assert upload.state == RosterUpload.State.CHECKED
    return upload


def withdraw_designations(user) -> None:
    FilerDesignation.objects.filter(user=user).delete()


UPLOAD_PAGES = ["enrollment:upload_detail", "enrollment:upload_status", "enrollment:upload_errors"]


@pytest.mark.parametrize("page", UPLOAD_PAGES)
def test_own_upload_pages_open_while_designated(client, old_upload, page):
    assert client.get(reverse(page, args=[old_upload.pk])).status_code == 200


@pytest.mark.parametrize("page", UPLOAD_PAGES)
def test_filer_who_lost_the_designation_no_longer_opens_old_uploads(
    client, filer_1012, old_upload, page
):
    withdraw_designations(filer_1012)
    assert client.get(reverse(page, args=[old_upload.pk])).status_code == 404


def test_filer_who_lost_the_designation_cannot_commit_an_old_upload(
    client, filer_1012, old_upload, django_capture_on_commit_callbacks
):
    withdraw_designations(filer_1012)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("enrollment:upload_commit", args=[old_upload.pk]))
    assert response.status_code == 404
    assert not StudentRecord.objects.exists()


def test_old_uploads_leave_the_dashboard_with_the_designation(client, filer_1012, old_upload):
    withdraw_designations(filer_1012)
    assert list(client.get(reverse("enrollment:dashboard")).context["uploads"]) == []


@pytest.fixture
def filer_batch(client, filer_1012, stored_1012, policy_year, django_capture_on_commit_callbacks):
    client.force_login(filer_1012)
    ids = list(StudentRecord.objects.order_by("pk").values_list("pk", flat=True)[:2])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("desk:batch_confirm"), {"ids": ids, "attested": "on"})
    return BatchConfirmation.objects.get()


def test_own_batch_page_opens_while_designated(client, filer_batch):
    assert client.get(reverse("desk:batch_detail", args=[filer_batch.pk])).status_code == 200


def test_batch_page_closes_when_the_designation_is_withdrawn(client, filer_1012, filer_batch):
    withdraw_designations(filer_1012)
    assert client.get(reverse("desk:batch_detail", args=[filer_batch.pk])).status_code == 404


def test_batch_page_closes_when_a_campus_of_it_leaves_the_scope(
    client, filer_1012, filer_batch, registry
):
    # The filer kept 101200 but the branch 101201 got its own filer (rule 2 no longer applies).
    records = StudentRecord.objects.filter(pk__in=filer_batch.record_ids)
    assert {r.campus_code for r in records} == {"101200", "101201"}
    from tests.conftest import make_user

    FilerDesignation.objects.create(
        user=make_user("branch_filer", "school_filer"), campus=registry["campuses"]["101201"]
    )
    assert client.get(reverse("desk:batch_detail", args=[filer_batch.pk])).status_code == 404


# --- the query page ------------------------------------------------------------------------------


@pytest.fixture
def account_through_1012(stored_1012, policy_year, filer_1012, django_capture_on_commit_callbacks):
    from confirmations import services

    record = StudentRecord.objects.order_by("pk").first()
    with django_capture_on_commit_callbacks(execute=True):
        services.application_submit(
            record=record,
            policy_year=policy_year,
            confirmed_by=filer_1012,
            paper_pledge_attested=True,
        )
    application = Application.objects.get()
    assert application.state == Application.State.CREATED
    return application


@pytest.fixture
def same_student_at_1014(account_through_1012, registry, filer_1014, year, workbook, stored_1012):
    row = next(r for r in stored_1012 if r["证件号码"] == account_through_1012.id_number)
    roster_import(
        content=workbook([dict(row, 总分校编码="101400", 学号="Z1")]),
        school=registry["schools"]["1014"],
        year=year,
        user=filer_1014,
        commit=True,
    )
    return StudentRecord.objects.get(school__code="1014")


def query(client, text):
    return client.post(reverse("desk:query"), {"q": text}, follow=True)


def test_query_shows_the_account_created_through_the_users_own_scope(
    client, filer_1012, account_through_1012
):
    client.force_login(filer_1012)
    response = query(client, account_through_1012.id_number)
    (result,) = response.context["results"]
    assert result["account"] is not None
    assert account_through_1012.approval_number in response.content.decode()


def test_query_does_not_show_an_account_created_through_another_school(
    client, filer_1014, account_through_1012, same_student_at_1014
):
    client.force_login(filer_1014)
    response = query(client, account_through_1012.id_number)
    (result,) = response.context["results"]
    assert result["record"] == same_student_at_1014
    assert result["account"] is None and result["applications"] == []
    html = response.content.decode()
    assert account_through_1012.approval_number not in html and "上海某某大学" not in html


def test_query_searches_by_post_and_keeps_the_id_number_out_of_the_url(
    client, filer_1012, account_through_1012
):
    client.force_login(filer_1012)
    response = query(client, account_through_1012.id_number)
    ((url, _),) = response.redirect_chain
    assert account_through_1012.id_number not in url and "s=" in url
