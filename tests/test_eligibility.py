"""Who may enrol (seed 03 lines 85–89, Q4; seed 01 Q14): foreign students are not in this
scheme, holders of documents other than the resident ID or residence permit are told to get a
医保卡, and Hong Kong, Macao and Taiwan students are pointed to the residence permit."""

from __future__ import annotations

import pytest
from django.urls import reverse

from confirmations import services
from confirmations.models import Application
from enrollment.importer import roster_import
from enrollment.models import StudentRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def sign_in(sign_in_student):
    return lambda client, row: sign_in_student(client, row["姓名"], row["证件号码"])


def confirm(client, signature_data_url, capture):
    client.get(reverse("student:start"))
    with capture(execute=True):
        return client.post(
            reverse("student:pledge"), {"agree": "on", "signature": signature_data_url}
        )


def file_one(row, school, user, year):
    result = roster_import(
        content=_workbook([row]), school=school, year=year, user=user, commit=True
    )
    assert result.errors == [], result.errors
    return StudentRecord.objects.get(id_number=row["证件号码"])


def _workbook(rows):
    from enrollment.demo import roster_workbook

    return roster_workbook(rows)


@pytest.fixture
def permit_holder(rows_1012, school_1012, filer_1012, year, policy_year):
    """A Hong Kong student filed with a travel permit (证件类型 3)."""
    row = {
        **rows_1012(1, start=50)[0],
        "证件类型": "3",
        "证件号码": "H12345678",
        "原户籍地": "香港",
    }
    file_one(row, school_1012, filer_1012, year)
    return row


def test_foreign_passport_on_a_roster_is_refused_at_upload_with_the_reason(
    rows_1012, school_1012, filer_1012, year
):
    row = {**rows_1012(1)[0], "证件类型": "2", "证件号码": "USA0E12345678", "原户籍地": "美国"}
    result = roster_import(
        content=_workbook([row]), school=school_1012, year=year, user=filer_1012, commit=False
    )
    (error,) = result.errors
    assert error.column == "证件号码" and "外国留学生" in error.message and "USA" in error.message


def test_foreign_student_filed_before_the_rule_is_not_confirmable(
    stored_1012, policy_year, filer_1012
):
    record = StudentRecord.objects.get(id_number=stored_1012[0]["证件号码"])
    StudentRecord.objects.filter(pk=record.pk).update(id_type="2", id_number="GBR0123456789")
    record.refresh_from_db()
    with pytest.raises(services.ConfirmationRefused, match="外国留学生"):
        services.application_submit(
            record=record,
            policy_year=policy_year,
            confirmed_by=filer_1012,
            paper_pledge_attested=True,
        )
    assert not Application.objects.exists()


def test_permit_holder_is_told_to_get_a_medical_insurance_card_not_promised_the_e_voucher(
    client, permit_holder, sign_in, signature_data_url, django_capture_on_commit_callbacks
):
    sign_in(client, permit_holder)
    confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    application = Application.objects.get()
    assert application.state == Application.State.CREATED
    html = client.get(reverse("student:result", args=[application.approval_number])).content
    html = html.decode()
    assert "医保卡" in html and "医保经办机构" in html
    assert "可能无法申领医保电子凭证" in html
    assert "后可申领" not in html  # no e-voucher date promised


def test_resident_id_holder_is_promised_the_e_voucher(
    client,
    stored_1012,
    policy_year,
    sign_in,
    signature_data_url,
    django_capture_on_commit_callbacks,
):
    sign_in(client, stored_1012[0])
    confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    application = Application.objects.get()
    html = client.get(reverse("student:result", args=[application.approval_number])).content
    assert "后可申领" in html.decode() and "医保卡" not in html.decode()


def test_travel_permit_holder_gets_the_residence_permit_hint_before_signing(
    client, permit_holder, sign_in
):
    sign_in(client, permit_holder)
    client.get(reverse("student:start"))
    html = client.get(reverse("student:record")).content.decode()
    assert "港澳台居民居住证" in html and "证件类型 7" in html


def test_schools_records_list_shows_the_residence_permit_hint(client, filer_1012, permit_holder):
    client.force_login(filer_1012)
    html = client.get(reverse("enrollment:record_list")).content.decode()
    assert "建议改用港澳台居民居住证" in html
