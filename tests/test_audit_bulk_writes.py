"""A roster commit and an admin import leave one audit entry per record they create, change or
delete, as a single edit does (review 13): bulk-inserted, masked, found by person."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from audit.services import person_hash
from enrollment.importer import roster_import
from enrollment.models import StudentRecord

pytestmark = pytest.mark.django_db


def entries(action: str):
    return AuditEntry.objects.filter(action=action)


def commit(content, school, user, year):
    return roster_import(content=content, school=school, year=year, user=user, commit=True)


def test_roster_commit_writes_a_create_entry_per_new_record(
    school_1012, filer_1012, year, rows_1012, workbook
):
    rows = rows_1012(3)
    commit(workbook(rows), school_1012, filer_1012, year)
    created = entries("record_create")
    assert created.count() == 3
    assert {entry.record_id for entry in created} == set(
        StudentRecord.objects.values_list("pk", flat=True)
    )
    assert {entry.actor for entry in created} == {filer_1012}
    assert {entry.person_hash for entry in created} == {person_hash(r["证件号码"]) for r in rows}


def test_roster_reupload_writes_an_edit_entry_per_changed_record_only(
    school_1012, filer_1012, year, rows_1012, workbook
):
    rows = rows_1012(3)
    commit(workbook(rows), school_1012, filer_1012, year)
    rows[1]["联系电话"] = "13900001111"
    commit(workbook(rows), school_1012, filer_1012, year)
    (edit,) = entries("record_edit")
    record = StudentRecord.objects.get(id_number=rows[1]["证件号码"])
    assert edit.record_id == record.pk and edit.campus_id == record.campus_id
    ((change,),) = [edit.detail["changes"]]
    assert change["column"] == "联系电话" and "13900001111" not in str(edit.detail)
    assert entries("record_create").count() == 3  # the unchanged rows wrote nothing new


@pytest.fixture
def admin_client(city_admin):
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client = Client()
    client.force_login(city_admin)
    return client


def test_admin_import_writes_an_entry_per_record(admin_client, city_admin, rows_1012, workbook):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from enrollment.admin_formats import SAFE_FORMATS, SafeXLSX

    def imported(rows):
        preview = admin_client.post(
            reverse("admin:enrollment_studentrecord_import"),
            {
                "resource": 0,
                "format": SAFE_FORMATS.index(SafeXLSX),
                "import_file": SimpleUploadedFile("r.xlsx", workbook(rows)),
            },
        )
        admin_client.post(
            reverse("admin:enrollment_studentrecord_process_import"),
            preview.context["confirm_form"].initial,
        )

    rows = rows_1012(2)
    imported(rows)
    assert entries("record_create").count() == 2
    assert {e.actor for e in entries("record_create")} == {city_admin}
    rows[0]["专业"] = "人工智能"
    imported(rows)
    (edit,) = entries("record_edit")
    assert edit.record_id == StudentRecord.objects.get(id_number=rows[0]["证件号码"]).pk
    assert [change["field"] for change in edit.detail["changes"]] == ["major"]
