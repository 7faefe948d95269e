"""Every display or export of full ID numbers leaves an audit entry: who, what and how many,
never the numbers themselves (review 5). The desk's displays are in test_audit.py; these are the
files that repeat a roster's rows and the admin's import and export."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from enrollment.admin_formats import SAFE_FORMATS, InertCSV, SafeXLSX
from enrollment.models import RosterUpload
from enrollment.resources import StudentRecordResource
from tests.test_upload_pages import upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(city_admin):
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client = Client()
    client.force_login(city_admin)
    return client


def displays():
    return AuditEntry.objects.filter(action=AuditEntry.Action.ID_DISPLAY)


def assert_no_id_numbers(entry, id_numbers):
    text = str(entry.detail) + entry.target
    assert not any(number in text for number in id_numbers)


def test_error_workbook_download_is_a_full_id_display(
    client, filer_1012, django_capture_on_commit_callbacks, school_1012, year, rows_1012, workbook
):
    client.force_login(filer_1012)
    rows = rows_1012(3)
    rows[1]["性别"] = "3"
    upload(client, django_capture_on_commit_callbacks, school_1012, year, workbook(rows))
    stored = RosterUpload.objects.get()
    client.get(reverse("enrollment:upload_errors", args=[stored.pk]))
    entry = displays().get()
    assert entry.actor == filer_1012 and entry.detail["rows"] == 3
    assert_no_id_numbers(entry, [row["证件号码"] for row in rows])


def test_admin_export_of_records_is_a_full_id_display(admin_client, city_admin, stored_1012):
    fields = {f"studentrecordresource_{spec}": "on" for spec in StudentRecordResource().fields}
    admin_client.post(
        reverse("admin:enrollment_studentrecord_export"),
        {"format": SAFE_FORMATS.index(InertCSV), "resource": 0, **fields},
    )
    entry = displays().get()
    assert entry.actor == city_admin and entry.detail["rows"] == len(stored_1012)
    assert_no_id_numbers(entry, [row["证件号码"] for row in stored_1012])


def test_admin_import_preview_is_a_full_id_display(admin_client, city_admin, rows_1012, workbook):
    rows = rows_1012(2)
    admin_client.post(
        reverse("admin:enrollment_studentrecord_import"),
        {
            "resource": 0,
            "format": SAFE_FORMATS.index(SafeXLSX),
            "import_file": SimpleUploadedFile("r.xlsx", workbook(rows)),
        },
    )
    entry = displays().get()
    assert entry.actor == city_admin and entry.detail["rows"] == 2
    assert_no_id_numbers(entry, [row["证件号码"] for row in rows])
