"""Stored roster files are purged after their policy year; counts and the audit trail stay."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEntry
from enrollment import retention, services
from enrollment.models import RosterUpload
from enrollment.retention_jobs import purge_expired_upload_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def checked_upload(filer_1012, school_1012, year, rows_1012, workbook):
    rows = rows_1012(3)
    rows[2]["性别"] = "3"
    with_errors = services.roster_upload_create(
        user=filer_1012, school=school_1012, year=year, file_name="a.xlsx", content=workbook(rows)
    )
    services.roster_upload_check(upload_id=with_errors.pk)
    return RosterUpload.objects.get(pk=with_errors.pk)


def test_purge_is_due_a_margin_after_the_policy_year_closes():
    closing = {2026: dt.date(2027, 1, 15)}
    due = lambda today: retention.purge_due(  # noqa: E731
        enrollment_year=2026, closing_dates=closing, days_after_year=90, today=today
    )
    assert not due(dt.date(2027, 4, 14)) and due(dt.date(2027, 4, 15))


def test_without_a_policy_year_the_year_closes_on_new_years_day():
    assert retention.year_closes_on(2026, {}) == dt.date(2027, 1, 1)


def test_default_retention_is_documented_and_ninety_days():
    assert settings.UPLOAD_RETENTION_DAYS_AFTER_YEAR == 90


def test_purge_empties_the_file_and_keeps_counts_and_errors(checked_upload, policy_year):
    closes = policy_year.closing_date
    purged = purge_expired_upload_files(today=closes + dt.timedelta(days=90))
    assert purged == 1
    upload = RosterUpload.objects.get(pk=checked_upload.pk)
    assert bytes(upload.content) == b"" and upload.purged_at is not None
    assert (upload.rows_total, upload.rows_valid, upload.rows_with_errors) == (3, 2, 1)
    assert upload.errors == checked_upload.errors
    entry = AuditEntry.objects.get(action="files_purged")
    assert entry.detail["uploads"] == 1


def test_nothing_is_purged_before_the_period_ends(checked_upload, policy_year):
    closes = policy_year.closing_date
    assert purge_expired_upload_files(today=closes + dt.timedelta(days=89)) == 0
    assert bytes(RosterUpload.objects.get().content)


def test_purge_runs_twice_without_harm(checked_upload, policy_year):
    later = policy_year.closing_date + dt.timedelta(days=400)
    assert purge_expired_upload_files(today=later) == 1
    assert purge_expired_upload_files(today=later) == 0
    assert AuditEntry.objects.filter(action="files_purged").count() == 1


def test_an_upload_being_checked_keeps_its_file(checked_upload, policy_year):
    RosterUpload.objects.filter(pk=checked_upload.pk).update(state=RosterUpload.State.CHECKING)
    later = policy_year.closing_date + dt.timedelta(days=400)
    assert purge_expired_upload_files(today=later) == 0


def test_the_error_workbook_of_a_purged_upload_is_gone_and_the_page_says_why(
    client, filer_1012, checked_upload, policy_year
):
    purge_expired_upload_files(today=policy_year.closing_date + dt.timedelta(days=400))
    client.force_login(filer_1012)
    assert (
        client.get(reverse("enrollment:upload_errors", args=[checked_upload.pk])).status_code == 404
    )
    page = client.get(
        reverse("enrollment:upload_detail", args=[checked_upload.pk])
    ).content.decode()
    assert (
        "按保存期限删除" in page
        and reverse("enrollment:upload_errors", args=[checked_upload.pk]) not in page
    )


def test_the_command_purges_and_says_how_many(checked_upload, policy_year, capsys, monkeypatch):
    monkeypatch.setattr(
        "django.utils.timezone.localdate",
        lambda *a: policy_year.closing_date + dt.timedelta(days=400),
    )
    call_command("purge_upload_files")
    assert "purged the files of 1 roster uploads" in capsys.readouterr().out


def test_the_purge_runs_daily_in_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-expired-upload-files"]
    assert entry["task"] == "enrollment.tasks.purge_expired_upload_files"
    from config.celery import app

    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


def test_every_stored_file_field_is_purged():
    """A new field holding uploaded bytes must be listed in PURGED_FILE_FIELDS."""
    binary = {
        f.name
        for f in RosterUpload._meta.fields
        if f.get_internal_type() in ("BinaryField", "FileField")
    }
    assert binary <= set(services.PURGED_FILE_FIELDS)
