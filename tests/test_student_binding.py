"""A student's session belongs to the roster records whose phone received the code (issue 9).

The hijack found on main: filer1014 added a 1014 record for a 1012 student with the filer's
own phone, identified as that student, received the code and read everything done through
1012's record. Here that code opens the 1014 record and nothing else.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from confirmations import views
from confirmations.models import Application, OneTimeCode
from enrollment import rules
from enrollment.models import StudentRecord

pytestmark = pytest.mark.django_db

ATTACKER_PHONE = "13900001014"


def code_sent_to(outbox, phone: str) -> str:
    return next(re.search(r"\d{6}", text).group() for to, text in reversed(outbox) if to == phone)


def identify(client, row, name=None):
    # Each identification here happens minutes after the last (no 60-second resend wait).
    OneTimeCode.objects.update(created_at=timezone.now() - dt.timedelta(minutes=2))
    response = client.post(
        reverse("student:identify"), {"name": name or row["姓名"], "id_number": row["证件号码"]}
    )
    assert response.status_code == 302, response.content.decode()
    return response


def verify(client, code):
    return client.post(reverse("student:verify"), {"code": code})


def confirm(client, signature_data_url, capture):
    with capture(execute=True):
        return client.post(
            reverse("student:pledge"), {"agree": "on", "signature": signature_data_url}
        )


@pytest.fixture
def student(stored_1012, policy_year):
    return stored_1012[0]


@pytest.fixture
def confirmed_through_1012(
    student, _sms_outbox, signature_data_url, django_capture_on_commit_callbacks
):
    """The real student confirmed and signed through 1012's record."""
    client = Client()
    identify(client, student)
    verify(client, code_sent_to(_sms_outbox, student["联系电话"]))
    client.get(reverse("student:start"))
    confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    return Application.objects.get()


@pytest.fixture
def record_1014_with_attackers_phone(client, filer_1014, student):
    """filer1014 adds the 1012 student to 1014's roster, with the filer's own phone."""
    client.force_login(filer_1014)
    data = {spec.attribute: student[spec.header] for spec in rules.FIELDS}
    data.update(campus_code="101400", phone=ATTACKER_PHONE, student_number="X1014")
    response = client.post(reverse("enrollment:record_create"), data)
    assert response.status_code == 302, response.context["form"].errors
    client.logout()
    return StudentRecord.objects.get(school__code="1014")


def hijack(client, student, outbox):
    identify(client, student)
    return verify(client, code_sent_to(outbox, ATTACKER_PHONE))


def test_each_phone_gets_its_own_code(
    student, record_1014_with_attackers_phone, _sms_outbox, client
):
    identify(client, student)
    assert sorted(phone for phone, _ in _sms_outbox) == sorted(
        [student["联系电话"], ATTACKER_PHONE]
    )
    assert code_sent_to(_sms_outbox, student["联系电话"]) != code_sent_to(
        _sms_outbox, ATTACKER_PHONE
    )


def test_hijacker_code_binds_only_the_record_with_their_phone(
    client, student, confirmed_through_1012, record_1014_with_attackers_phone, _sms_outbox
):
    hijack(client, student, _sms_outbox)
    assert client.session[views.SESSION_STUDENT]["record_ids"] == [
        record_1014_with_attackers_phone.pk
    ]


def test_hijack_yields_nothing_done_through_the_other_school(
    client, student, confirmed_through_1012, record_1014_with_attackers_phone, _sms_outbox
):
    theirs = confirmed_through_1012.approval_number
    hijack(client, student, _sms_outbox)
    listing = client.get(reverse("student:applications")).content.decode()
    assert theirs not in listing and "上海某某大学" not in listing
    for name in ("result", "submitted", "signed_pledge", "signature"):
        assert client.get(reverse(f"student:{name}", args=[theirs])).status_code == 404, name


def test_hijack_yields_no_dates_on_the_benefit_pages(
    client, student, confirmed_through_1012, record_1014_with_attackers_phone, _sms_outbox
):
    from confirmations import services

    services.account_create(application_id=confirmed_through_1012.pk)
    hijack(client, student, _sms_outbox)
    html = client.get(reverse("student:benefits")).content.decode()
    assert "后可申领" not in html  # the e-voucher line shows only with the own dates
    assert client.get(reverse("student:benefits")).context["application"] is None


def test_hijacker_is_told_an_application_exists_but_nothing_of_it(
    client, student, confirmed_through_1012, record_1014_with_attackers_phone, _sms_outbox
):
    hijack(client, student, _sms_outbox)
    html = client.get(reverse("student:start")).content.decode()
    assert views.ELSEWHERE_TITLE in html
    assert confirmed_through_1012.approval_number not in html
    assert "上海某某大学" not in html and "建账成功" not in html


def test_no_second_application_through_the_other_schools_record(
    client,
    student,
    confirmed_through_1012,
    record_1014_with_attackers_phone,
    _sms_outbox,
    signature_data_url,
    django_capture_on_commit_callbacks,
):
    hijack(client, student, _sms_outbox)
    session = client.session
    session[views.SESSION_RECORD] = record_1014_with_attackers_phone.pk
    session.save()
    response = confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    assert views.ELSEWHERE_TITLE in response.content.decode()
    assert confirmed_through_1012.approval_number not in response.content.decode()
    assert Application.objects.count() == 1


def test_pending_application_elsewhere_shows_no_approval_number(
    client,
    student,
    record_1014_with_attackers_phone,
    _sms_outbox,
    signature_data_url,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    monkeypatch.setattr("confirmations.tasks.create_account.apply_async", lambda *a, **k: None)
    real = Client()
    identify(real, student)
    verify(real, code_sent_to(_sms_outbox, student["联系电话"]))
    assert real.get(reverse("student:start")).url == reverse("student:record")
    confirm(real, signature_data_url, django_capture_on_commit_callbacks)
    pending = Application.objects.get()
    assert pending.is_pending and pending.record.school.code == "1012"

    hijack(client, student, _sms_outbox)
    html = client.get(reverse("student:start")).content.decode()
    assert views.ELSEWHERE_TITLE in html and pending.approval_number not in html


def test_the_real_student_sees_their_own_application_and_not_the_1014_record(
    client, student, confirmed_through_1012, record_1014_with_attackers_phone, _sms_outbox
):
    identify(client, student)
    verify(client, code_sent_to(_sms_outbox, student["联系电话"]))
    assert client.session[views.SESSION_STUDENT]["record_ids"] == [confirmed_through_1012.record_id]
    listing = client.get(reverse("student:applications")).content.decode()
    assert confirmed_through_1012.approval_number in listing
    assert client.get(reverse("student:start")).url == reverse(
        "student:result", args=[confirmed_through_1012.approval_number]
    )


def test_a_code_guess_counts_once_whichever_phone_it_tries(
    client, student, record_1014_with_attackers_phone, _sms_outbox
):
    from confirmations import otp

    identify(client, student)
    codes = {
        code_sent_to(_sms_outbox, student["联系电话"]),
        code_sent_to(_sms_outbox, ATTACKER_PHONE),
    }
    wrong = next(f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in codes)
    for _ in range(otp.VERIFY_ATTEMPTS):
        verify(client, wrong)
    verify(client, code_sent_to(_sms_outbox, ATTACKER_PHONE))
    assert views.SESSION_STUDENT not in client.session


def test_session_from_before_the_binding_is_sent_to_identify_again(client, student):
    session = client.session
    session[views.SESSION_STUDENT] = {"id_number": student["证件号码"], "name": student["姓名"]}
    session.save()
    response = client.get(reverse("student:applications"))
    assert response.status_code == 302 and response.url.startswith(reverse("student:identify"))


def test_malformed_id_number_is_answered_on_the_identify_page(client, student):
    response = client.post(
        reverse("student:identify"), {"name": student["姓名"], "id_number": "31010420090402001"}
    )
    assert response.status_code == 200
    assert "18 位" in response.content.decode()
