"""The django-import-export Resource: the template's 18 headers, and admin import through the rules."""

from __future__ import annotations

import pytest
import tablib

from enrollment import rules
from enrollment.models import StudentRecord
from enrollment.resources import StudentRecordResource

pytestmark = pytest.mark.django_db


def dataset(rows) -> tablib.Dataset:
    data = tablib.Dataset(headers=list(rules.HEADERS))
    for row in rows:
        data.append([row[h] for h in rules.HEADERS])
    return data


def test_resource_declares_the_18_headers_in_template_order():
    assert StudentRecordResource().get_export_headers() == list(rules.HEADERS)


def test_admin_import_stores_valid_rows(city_admin, rows_1012):
    result = StudentRecordResource(user=city_admin).import_data(
        dataset(rows_1012(2)), dry_run=False
    )
    assert not result.has_errors() and not result.has_validation_errors()
    assert StudentRecord.objects.count() == 2


def test_admin_import_rejects_rows_that_break_the_rules(city_admin, rows_1012):
    rows = rows_1012(2)
    rows[1]["性别"] = "3"
    result = StudentRecordResource(user=city_admin).import_data(dataset(rows), dry_run=False)
    assert result.has_validation_errors()
    invalid = result.invalid_rows[0]
    assert "sex" in invalid.error_dict


def test_admin_import_updates_instead_of_duplicating(city_admin, rows_1012):
    rows = rows_1012(1)
    StudentRecordResource(user=city_admin).import_data(dataset(rows), dry_run=False)
    rows[0]["专业"] = "人工智能"
    StudentRecordResource(user=city_admin).import_data(dataset(rows), dry_run=False)
    assert StudentRecord.objects.get().major == "人工智能"


def test_export_writes_dates_as_template_text(city_admin, rows_1012):
    rows = rows_1012(1)
    StudentRecordResource(user=city_admin).import_data(dataset(rows), dry_run=False)
    exported = StudentRecordResource().export()
    assert exported.dict[0]["报到注册日期"] == rows[0]["报到注册日期"]


def test_admin_pages_load_for_city_admin(client, city_admin):
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client.force_login(city_admin)
    for url in [
        "/admin/enrollment/studentrecord/",
        "/admin/enrollment/studentrecord/import/",
        "/admin/schools/school/",
        "/admin/schools/user/",
        "/admin/enrollment/rosterupload/",
        "/admin/confirmations/policyyear/",
        "/admin/confirmations/coveragerecord/",
        "/admin/confirmations/coveragerecord/import/",
        "/admin/confirmations/application/",
        "/admin/confirmations/batchconfirmation/",
        "/admin/schools/filerdesignation/",
        "/admin/schools/district/",
        "/admin/schools/campus/",
    ]:
        assert client.get(url).status_code == 200, url
