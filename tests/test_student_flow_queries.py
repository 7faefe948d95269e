"""The student flow's database budget (issue 14): each page asks only what it needs.

Sessions are kept out of the count (on the production stack they live in Redis).
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def student_client(client, settings, stored_1012, policy_year, _sms_outbox):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.SESSION_CACHE_ALIAS = "default"
    return client


def queries(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


def test_asking_for_a_code_reads_the_persons_recent_codes_once(student_client, stored_1012):
    row = stored_1012[0]
    data = {"name": row["姓名"], "id_number": row["证件号码"]}
    # The address's codes, the person's codes, the roster, the new code.
    assert queries(lambda: student_client.post(reverse("student:identify"), data)) == 4


def test_the_pledge_page_reads_the_persons_state_from_the_chosen_record(
    student_client, stored_1012, sign_in_student
):
    row = stored_1012[0]
    sign_in_student(student_client, row["姓名"], row["证件号码"])
    student_client.get(reverse("student:start"))
    # The year, the session's records, the person's applications this year.
    assert queries(lambda: student_client.get(reverse("student:pledge"))) == 3


def test_the_code_request_still_refuses_a_second_code_within_a_minute(
    student_client, stored_1012, _sms_outbox
):
    row = stored_1012[0]
    data = {"name": row["姓名"], "id_number": row["证件号码"]}
    student_client.post(reverse("student:identify"), data)
    page = student_client.post(reverse("student:identify"), data, follow=True)
    assert len(_sms_outbox) == 1
    assert re.search(r'data-countdown="\d+"', page.content.decode())
