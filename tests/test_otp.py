"""One-time codes: sent to the roster's phone, bound to its records, expiring, rate-limited
without letting anyone use up another person's quota, and revealing nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from confirmations import otp
from confirmations.models import OneTimeCode
from enrollment.models import StudentRecord

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


def test_right_code_verifies_once_and_binds_the_record(student, _sms_outbox):
    sent = request_code(student)
    code = last_code(_sms_outbox)
    record = StudentRecord.objects.get(id_number=student["证件号码"])
    assert otp.code_verify(code_id=sent.code_id, id_number=student["证件号码"], code=code) == [
        record.pk
    ]
    assert otp.code_verify(code_id=sent.code_id, id_number=student["证件号码"], code=code) == []


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


def test_a_code_spent_by_a_racing_request_is_not_spent_again(student, _sms_outbox, monkeypatch):
    """The code is read, then checked, then spent: a request that spent it in between wins."""
    sent = request_code(student)
    compare = otp.hmac.compare_digest

    def spent_meanwhile(a, b):
        OneTimeCode.objects.update(used_at=timezone.now())
        return compare(a, b)

    monkeypatch.setattr(otp.hmac, "compare_digest", spent_meanwhile)
    assert not otp.code_verify(
        code_id=sent.code_id, id_number=student["证件号码"], code=last_code(_sms_outbox)
    )


def test_an_attempt_is_not_counted_past_the_limit_by_a_racing_guess(
    student, _sms_outbox, monkeypatch
):
    """The limit is checked again when the attempt is counted, not only when the code is read."""
    sent = request_code(student)
    compare = otp.hmac.compare_digest

    def limit_reached_meanwhile(a, b):
        OneTimeCode.objects.update(attempts=otp.VERIFY_ATTEMPTS)
        return compare(a, b)

    monkeypatch.setattr(otp.hmac, "compare_digest", limit_reached_meanwhile)
    assert not otp.code_verify(
        code_id=sent.code_id, id_number=student["证件号码"], code=last_code(_sms_outbox)
    )
    assert OneTimeCode.objects.get().attempts == otp.VERIFY_ATTEMPTS


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


def age_codes(minutes: int = 2) -> None:
    OneTimeCode.objects.update(created_at=timezone.now() - dt.timedelta(minutes=minutes))


def test_sends_per_person_are_limited_per_hour(student):
    for index in range(otp.SENDS_PER_PERSON_PER_HOUR):
        request_code(student, ip=f"10.0.1.{index}")
        age_codes()
    with pytest.raises(otp.RateLimited, match="一小时"):
        request_code(student, ip="10.0.2.1")


def test_requests_with_a_wrong_name_do_not_use_up_the_students_quota(student, _sms_outbox):
    for index in range(otp.SENDS_PER_PERSON_PER_HOUR * 2):
        request_code(student, ip=f"10.0.1.{index}", name=f"冒名{index % 2}")
        age_codes()
    request_code(student, ip="10.0.2.1")  # the real student still gets a code
    assert _sms_outbox[-1][0] == student["联系电话"]


def test_a_wrong_name_is_limited_on_its_own_like_a_right_one(student):
    """The limit answers the same for a matching and a non-matching pair: no oracle."""
    request_code(student, name="冒名")
    with pytest.raises(otp.RateLimited, match="60 秒"):
        request_code(student, name="冒名")


def test_a_busy_shared_address_is_slowed_down_not_locked_out(stored_1012, settings, _sms_outbox):
    settings.IDENTIFY_FREE_PER_ADDRESS_PER_HOUR = 3
    settings.IDENTIFY_MAX_BACKOFF_SECONDS = 5
    for row in stored_1012[:3]:
        request_code(row, ip="10.9.9.9")
    with pytest.raises(otp.RateLimited, match="秒后再试"):
        request_code(stored_1012[3], ip="10.9.9.9")
    age_codes(minutes=1)  # a few seconds later the next student gets through
    request_code(stored_1012[3], ip="10.9.9.9")
    assert _sms_outbox[-1][0] == stored_1012[3]["联系电话"]
    request_code(stored_1012[4], ip="10.9.9.10")  # other addresses never waited


def test_backoff_grows_with_the_traffic_and_stops_at_the_cap():
    from security.throttle import backoff_wait

    now = timezone.now()
    waits = [
        backoff_wait(recent=recent, free=10, last_at=now, now=now, base_seconds=1, max_seconds=30)
        for recent in (9, 10, 11, 12, 13, 20, 500)
    ]
    assert waits == [0, 1, 2, 4, 8, 30, 30]
    later = now + dt.timedelta(seconds=3)
    assert (
        backoff_wait(recent=12, free=10, last_at=now, now=later, base_seconds=1, max_seconds=30)
        == 1
    )


@pytest.mark.parametrize(
    "id_number",
    [
        "31010420090402001",
        "310104200904020014",
        "310104209913020013",
        "3101042009040200133",
        "身份证",
    ],
)
def test_malformed_id_number_is_answered_at_once(registry, id_number, _sms_outbox):
    with pytest.raises(otp.MalformedIdNumber):
        otp.code_request(name="某人", id_number=id_number, client_ip="10.0.0.1")
    assert not OneTimeCode.objects.exists() and _sms_outbox == []


def test_passport_numbers_are_not_taken_for_malformed(registry):
    assert isinstance(
        otp.code_request(name="某人", id_number="USA0123456789", client_ip=None), otp.CodeSent
    )


def test_codes_are_stored_only_as_hashes(student, _sms_outbox):
    request_code(student)
    stored = OneTimeCode.objects.get()
    assert last_code(_sms_outbox) not in str(stored.deliveries)
    assert student["证件号码"] not in stored.id_number_hash + stored.pair_hash
    assert student["联系电话"] not in str(stored.deliveries)


# --- identification real students can pass (issue 10) -------------------------------------------


def test_code_is_sent_only_to_a_mobile_never_to_a_landline(student, _sms_outbox):
    StudentRecord.objects.filter(id_number=student["证件号码"]).update(phone="021-62345678")
    sent = request_code(student)
    assert _sms_outbox == []
    assert OneTimeCode.objects.get(pk=sent.code_id).deliveries == []


def test_landline_record_gets_the_same_answer_as_anyone_and_the_page_says_ask_for_a_mobile(
    client, student
):
    from django.urls import reverse

    StudentRecord.objects.filter(id_number=student["证件号码"]).update(phone="021-62345678")
    response = client.post(
        reverse("student:identify"), {"name": student["姓名"], "id_number": student["证件号码"]}
    )
    assert response.url == reverse("student:verify")  # as for a pair on no roster at all
    html = client.get(response.url).content.decode()
    assert "验证码只发送到手机号" in html and "座机号码" in html and "改为您本人的手机号" in html


def test_records_list_shows_and_filters_the_records_that_cannot_receive_codes(
    client, filer_1012, student
):
    from django.urls import reverse

    record = StudentRecord.objects.get(id_number=student["证件号码"])
    StudentRecord.objects.filter(pk=record.pk).update(phone="021-62345678")
    client.force_login(filer_1012)
    html = client.get(reverse("enrollment:record_list")).content.decode()
    assert "学生收不到验证码" in html
    response = client.post(reverse("enrollment:record_list"), {"no_mobile": "on"})
    page = client.get(response.url).context["page"]
    assert [row.pk for row in page] == [record.pk]


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("阿依古丽·买买提", "阿依古丽•买买提"),
        ("阿依古丽·买买提", "阿依古丽・买买提"),
        ("阿依古丽·买买提", "阿依古丽．买买提"),
        ("阿依古丽·买买提", "阿依古丽买买提"),
        ("JOHN SMITH", "John Smith"),
        ("JOHN SMITH", "ＪＯＨＮ　ＳＭＩＴＨ"),
    ],
)
def test_names_compare_as_the_roster_stores_them(student, _sms_outbox, stored, typed):
    record = StudentRecord.objects.get(id_number=student["证件号码"])
    StudentRecord.objects.filter(pk=record.pk).update(name=stored)
    sent = request_code(student, name=typed)
    assert otp.code_verify(
        code_id=sent.code_id, id_number=student["证件号码"], code=last_code(_sms_outbox)
    ) == [record.pk]
