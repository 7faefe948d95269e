"""Two filers at once: a record edit and a roster commit never silently undo each other, and a
commit that collides with a concurrent write answers with the conflict message (issue 11).
The same with two real database sessions is in tests/test_worker_faults.py.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from enrollment import importer
from enrollment.importer import RosterRefused, roster_import
from enrollment.models import StudentRecord

pytestmark = pytest.mark.django_db


def form_data(row: dict) -> dict:
    from enrollment import rules

    return {spec.attribute: row[spec.header] for spec in rules.FIELDS}


def opened_form(client, record: StudentRecord) -> dict:
    """What the edit page's form posts back as it was opened: the values and the hidden fields."""
    form = client.get(reverse("enrollment:record_edit", args=[record.pk])).context["form"]
    return {name: form[name].value() for name in form.fields}


def commit(rows, *, school, year, user, workbook):
    return roster_import(content=workbook(rows), school=school, year=year, user=user, commit=True)


def test_every_save_of_a_record_is_a_new_version(
    client, filer_1012, stored_1012, school_1012, year, workbook
):
    client.force_login(filer_1012)
    record = StudentRecord.objects.get(id_number=stored_1012[0]["证件号码"])
    assert record.version == 1
    data = opened_form(client, record) | {"major": "数据科学"}
    client.post(reverse("enrollment:record_edit", args=[record.pk]), data)
    record.refresh_from_db()
    assert record.version == 2
    stored_1012[0]["联系电话"] = "13900001111"
    commit(stored_1012, school=school_1012, year=year, user=filer_1012, workbook=workbook)
    record.refresh_from_db()
    assert (record.phone, record.version) == ("13900001111", 3)
    assert StudentRecord.objects.exclude(pk=record.pk).filter(version=1).count() == 9


def test_an_edit_form_opened_before_a_roster_commit_is_refused_with_what_changed(
    client, filer_1012, stored_1012, school_1012, year, workbook
):
    client.force_login(filer_1012)
    record = StudentRecord.objects.get(id_number=stored_1012[0]["证件号码"])
    data = opened_form(client, record) | {"major": "数据科学"}  # the form still shows the old phone
    stored_1012[0]["联系电话"] = "13900001111"
    commit(stored_1012, school=school_1012, year=year, user=filer_1012, workbook=workbook)

    response = client.post(reverse("enrollment:record_edit", args=[record.pk]), data)
    assert response.status_code == 200
    record.refresh_from_db()
    assert (record.phone, record.major) == ("13900001111", stored_1012[0]["专业"])
    form = response.context["form"]
    assert "已被他人修改" in form.non_field_errors()[0]
    assert "13900001111" in form.errors["phone"][0]


def test_an_edit_form_opened_before_another_filers_edit_is_refused(client, filer_1012, stored_1012):
    client.force_login(filer_1012)
    record = StudentRecord.objects.get(id_number=stored_1012[0]["证件号码"])
    first = opened_form(client, record)
    second = dict(first)
    client.post(reverse("enrollment:record_edit", args=[record.pk]), first | {"major": "数据科学"})
    response = client.post(
        reverse("enrollment:record_edit", args=[record.pk]), second | {"college": "理学院"}
    )
    assert response.status_code == 200
    record.refresh_from_db()
    assert (record.major, record.college) == ("数据科学", stored_1012[0]["学院"])
    assert "数据科学" in response.context["form"].errors["major"][0]


def test_saving_again_after_the_refusal_applies_the_entered_values(client, filer_1012, stored_1012):
    client.force_login(filer_1012)
    record = StudentRecord.objects.get(id_number=stored_1012[0]["证件号码"])
    stale = opened_form(client, record)
    client.post(reverse("enrollment:record_edit", args=[record.pk]), stale | {"major": "数据科学"})
    refused = client.post(
        reverse("enrollment:record_edit", args=[record.pk]), stale | {"college": "理学院"}
    )
    form = refused.context["form"]
    again = {name: form[name].value() for name in form.fields}  # the page as shown after
    response = client.post(reverse("enrollment:record_edit", args=[record.pk]), again)
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.college == "理学院"


def test_a_tampered_version_field_does_not_pass_as_the_current_one(client, filer_1012, stored_1012):
    client.force_login(filer_1012)
    record = StudentRecord.objects.get(id_number=stored_1012[0]["证件号码"])
    data = opened_form(client, record) | {"version": 7}
    response = client.post(reverse("enrollment:record_edit", args=[record.pk]), data)
    assert response.status_code == 200
    record.refresh_from_db()
    assert record.version == 1


def test_roster_commit_colliding_with_a_concurrent_insert_answers_with_the_conflict_message(
    filer_1012, stored_1012, school_1012, year, workbook, rows_1012, monkeypatch
):
    # The commit's check ran before another filer added one of its people: the insert collides.
    monkeypatch.setattr(importer, "_existing_records", lambda **kwargs: {})
    rows = [*rows_1012(12)[10:], stored_1012[0]]  # two new students, then one stored meanwhile
    with pytest.raises(RosterRefused) as refused:
        commit(rows, school=school_1012, year=year, user=filer_1012, workbook=workbook)
    assert "冲突" in refused.value.message and "未保存任何记录" in refused.value.message
    if connection.vendor == "postgresql":  # the database names the key, the message the row
        assert "第 4 行" in refused.value.message
    assert StudentRecord.objects.count() == 10  # nothing half-stored


def test_an_upload_commit_that_collides_returns_to_checked_with_the_conflict_message(
    filer_1012, stored_1012, school_1012, year, workbook, rows_1012, monkeypatch
):
    from enrollment import services
    from enrollment.models import RosterUpload

    rows = [*rows_1012(12)[10:], stored_1012[0]]
    upload = RosterUpload.objects.create(
        school=school_1012,
        enrollment_year=year,
        uploaded_by=filer_1012,
        file_name="a.xlsx",
        content=workbook(rows),
        state=RosterUpload.State.COMMITTING,
    )
    monkeypatch.setattr(importer, "_existing_records", lambda **kwargs: {})
    services.roster_upload_commit(upload_id=upload.pk)
    upload.refresh_from_db()
    assert upload.state == RosterUpload.State.CHECKED
    assert "冲突" in upload.result["failed"]
    assert StudentRecord.objects.count() == 10
