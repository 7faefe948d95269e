"""The one-time-code pages as a student meets them (issue 13, defect 5): the reason a code is
refused, 重新获取 on the code page with the server's countdown, and every page reachable by GET
(POST-redirect-GET), so that the back button returns to the code page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from confirmations import otp
from confirmations.models import OneTimeCode

pytestmark = pytest.mark.django_db


@pytest.fixture
def student(stored_1012, policy_year):
    return stored_1012[0]


def identify(client, student):
    return client.post(
        reverse("student:identify"), {"name": student["姓名"], "id_number": student["证件号码"]}
    )


def last_code(outbox) -> str:
    return re.search(r"\d{6}", outbox[-1][1]).group()


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_after_too_many_wrong_codes_the_right_one_says_get_a_new_code(client, student, _sms_outbox):
    identify(client, student)
    code = last_code(_sms_outbox)
    for _ in range(otp.VERIFY_ATTEMPTS):
        client.post(reverse("student:verify"), {"code": wrong(code)})
    response = client.post(reverse("student:verify"), {"code": code}, follow=True)
    html = response.content.decode()
    assert "错误次数过多，请重新获取验证码" in html and "验证码错误" not in html
    assert client.get(reverse("student:start")).status_code == 302  # not signed in


def test_a_wrong_code_is_answered_on_the_code_page_reached_by_get(client, student, _sms_outbox):
    identify(client, student)
    response = client.post(reverse("student:verify"), {"code": wrong(last_code(_sms_outbox))})
    assert response.status_code == 302 and response.url == reverse("student:verify")
    html = client.get(response.url).content.decode()
    assert "验证码错误，请重新输入或重新获取" in html
    assert "验证码错误" not in client.get(reverse("student:verify")).content.decode()  # once


def test_resend_within_a_minute_stays_on_the_code_page_with_the_seconds_left(
    client, student, _sms_outbox
):
    identify(client, student)
    OneTimeCode.objects.update(created_at=timezone.now() - dt.timedelta(seconds=25))
    response = client.post(reverse("student:resend"))
    assert response.url == reverse("student:verify")
    html = client.get(response.url).content.decode()
    seconds = int(re.search(r'data-countdown="(\d+)"', html).group(1))
    assert 30 <= seconds <= 35 and "js/countdown.js" in html
    assert 'name="code"' in html and "请 " in html and len(_sms_outbox) == 1


def test_identifying_again_within_a_minute_returns_to_the_code_page(client, student, _sms_outbox):
    identify(client, student)
    response = identify(client, student)
    assert response.status_code == 302 and response.url == reverse("student:verify")
    assert len(_sms_outbox) == 1


def test_identifying_again_within_a_minute_counts_down_the_servers_seconds(
    client, student, _sms_outbox
):
    """The code page keeps its countdown in the session; a refusal brings the database's."""
    identify(client, student)
    OneTimeCode.objects.update(created_at=timezone.now() - dt.timedelta(seconds=25))
    html = client.get(identify(client, student).url).content.decode()
    seconds = int(re.search(r'data-countdown="(\d+)"', html).group(1))
    assert 30 <= seconds <= 35


def test_resend_after_a_minute_sends_a_new_code_that_signs_in(client, student, _sms_outbox):
    identify(client, student)
    first = last_code(_sms_outbox)
    OneTimeCode.objects.update(created_at=timezone.now() - dt.timedelta(minutes=2))
    client.post(reverse("student:resend"))
    assert len(_sms_outbox) == 2
    html = client.get(reverse("student:verify")).content.decode()
    assert "验证码已重新发送" in html and 'data-countdown="6' in html  # 60 s from now
    new = last_code(_sms_outbox)
    if new != first:
        assert client.post(reverse("student:verify"), {"code": first}).url.endswith("/verify/")
    response = client.post(reverse("student:verify"), {"code": new})
    assert response.url == reverse("student:start")


def test_changing_the_inputs_keeps_what_was_typed_out_of_the_url(client, student, _sms_outbox):
    identify(client, student)
    html = client.get(reverse("student:identify")).content.decode()
    assert f'value="{student["姓名"]}"' in html and f'value="{student["证件号码"]}"' in html
