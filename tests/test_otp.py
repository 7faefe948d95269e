"""One-time codes: sent to the roster's phone, expiring, rate-limited, and revealing nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from confirmations import otp
from confirmations.models import OneTimeCode

pytestmark = pytest.mark.django_db


@pytest.fixture
def student(stored_1012):
    return stored_1012[0]


def request_code(row, ip="10.0.0.1", name=None):
    return otp.code_request(name=name or row["姓名"], id_number=row["证件号码"], client_ip=ip)


def last_code(outbox) -> str:
    return re.search(r"\d{6}", outbox[-1][1]).group()


def test_code_goes_to_the_phone_on_the_roster(student, _sms_outbox):
    request_code(student)
    assert _sms_outbox[-1][0] == student["联系电话"]


def test_right_code_verifies_once(student, _sms_outbox):
    sent = request_code(student)
    code = last_code(_sms_outbox)
    assert otp.code_verify(code_id=sent.code_id, id_number=student["证件号码"], code=code)
    assert not otp.code_verify(code_id=sent.code_id, id_number=student["证件号码"], code=code)


def test_lower_case_x_and_spaces_in_the_id_are_the_same_person(student, _sms_outbox):
    sent = otp.code_request(
        name=student["姓名"], id_number=f" {student['证件号码'].lower()} ", client_ip=None
    )
    assert otp.code_verify(
        code_id=sent.code_id, id_number=student["证件号码"], code=last_code(_sms_outbox)
    )


def test_wrong_code_fails(student, _sms_outbox):
    sent = request_code(student)
    wrong = f"{(int(last_code(_sms_outbox)) + 1) % 10**6:06d}"
    assert not otp.code_verify(code_id=sent.code_id, id_number=student["证件号码"], code=wrong)


def test_code_expires(student, _sms_outbox):
    sent = request_code(student)
    OneTimeCode.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert not otp.code_verify(
        code_id=sent.code_id, id_number=student["证件号码"], code=last_code(_sms_outbox)
    )


def test_attempts_are_limited(student, _sms_outbox):
    sent = request_code(student)
    code = last_code(_sms_outbox)
    for _ in range(otp.VERIFY_ATTEMPTS):
        otp.code_verify(
            code_id=sent.code_id,
            id_number=student["证件号码"],
            code="000000" if code != "000000" else "111111",
        )
    assert not otp.code_verify(code_id=sent.code_id, id_number=student["证件号码"], code=code)


def test_wrong_name_gets_the_same_answer_but_no_code(student, _sms_outbox):
    sent = request_code(student, name="不是本人")
    assert isinstance(sent, otp.CodeSent)
    assert _sms_outbox == []
    for guess in ("000000", "123456"):
        assert not otp.code_verify(code_id=sent.code_id, id_number=student["证件号码"], code=guess)


def test_resend_within_a_minute_is_refused(student):
    request_code(student)
    with pytest.raises(otp.RateLimited, match="60 秒"):
        request_code(student)


def test_sends_per_id_are_limited_per_hour(student):
    for _ in range(otp.SENDS_PER_ID_PER_HOUR):
        request_code(student)
        OneTimeCode.objects.update(created_at=timezone.now() - dt.timedelta(minutes=2))
    with pytest.raises(otp.RateLimited, match="一小时"):
        request_code(student)


def test_sends_per_device_are_limited_per_hour(stored_1012):
    for index in range(otp.SENDS_PER_IP_PER_HOUR):
        row = stored_1012[index % len(stored_1012)]
        OneTimeCode.objects.update(created_at=timezone.now() - dt.timedelta(minutes=2))
        otp.code_request(name="某人", id_number=f"ID{index}", client_ip="10.9.9.9")
    with pytest.raises(otp.RateLimited, match="本设备"):
        request_code(row, ip="10.9.9.9")


def test_codes_are_stored_only_as_hashes(student, _sms_outbox):
    request_code(student)
    stored = OneTimeCode.objects.get()
    assert last_code(_sms_outbox) not in stored.code_hash
    assert student["证件号码"] not in stored.id_number_hash
