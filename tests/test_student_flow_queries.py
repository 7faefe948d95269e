"""The student flow's database budget (issue 14): each page asks only what it needs.

The policy year is kept between requests as on the production stack (confirmations/year_cache),
read by an earlier student's request. The session is the production stack's (config.sessions: read from a cache, every write in the
database), so its statements count too; the cache is in memory here. Each budget is what the
step needs today: a test fails when a query creeps back.
"""

from __future__ import annotations

import re

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

pytestmark = pytest.mark.django_db

SAVEPOINT = re.compile(r"(RELEASE |ROLLBACK TO )?SAVEPOINT ", re.I)

# Step → statements, savepoints aside (the test runs in a transaction; production does not).
BUDGETS = {
    "identify GET": 0,
    "identify POST": 5,  # address's codes, person's codes, roster, new code, new session
    "verify GET": 0,  # the countdown is kept in the session
    # read the live code, count the attempt and spend it, audit, the session under a new key
    "verify POST": 4,
    "start GET": 3,  # the session's records, the person's applications, session (chosen record)
    "record GET": 1,  # the session's records
    "pledge GET": 2,  # the session's records, the person's applications
    # records, the person's applications, application, pledge, audit, session, and the
    # stored status of the person's records (their keys and statuses read, the changed written)
    "pledge POST": 8,
    "submitted GET": 1,  # the application
}


@pytest.fixture
def student_client(client, settings, stored_1012, policy_year, _sms_outbox):
    settings.CACHES = {
        **settings.CACHES,
        "sessions": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "shared": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    settings.SHARED_CACHE_ALIAS = "shared"  # the policy year is kept between requests
    settings.SESSION_ENGINE = "config.sessions"
    settings.SESSION_CACHE_ALIAS = "sessions"
    caches._settings = caches.settings = settings.CACHES  # the handler read them once
    caches._connections.__dict__.pop("sessions", None)
    caches._connections.__dict__.pop("shared", None)
    from confirmations.models import PolicyYear

    PolicyYear.current()  # an earlier student's request read it
    yield client
    caches["sessions"].clear()
    caches["shared"].clear()


def queries(call) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        response = call()
    statements = [q for q in captured if not SAVEPOINT.match(q["sql"])]
    return len(statements), response


def flow_queries(client, row, signature: str) -> dict[str, int]:
    """Queries per step of the student's flow, as the bench drives it."""
    counts: dict[str, int] = {}

    def step(name: str, call):
        counts[name], response = queries(call)
        return response

    step("identify GET", lambda: client.get(reverse("student:identify")))
    identity = {"name": row["姓名"], "id_number": row["证件号码"]}
    step("identify POST", lambda: client.post(reverse("student:identify"), identity))
    step("verify GET", lambda: client.get(reverse("student:verify")))
    from confirmations.sms import MemorySender

    code = re.search(r"\d{6}", MemorySender.outbox[-1][1]).group()
    response = step("verify POST", lambda: client.post(reverse("student:verify"), {"code": code}))
    assert response.status_code == 302
    response = step("start GET", lambda: client.get(reverse("student:start")))
    assert response["Location"] == reverse("student:record")
    step("record GET", lambda: client.get(reverse("student:record")))
    step("pledge GET", lambda: client.get(reverse("student:pledge")))
    signed = {"agree": "on", "signature": signature}
    response = step("pledge POST", lambda: client.post(reverse("student:pledge"), signed))
    assert response.status_code == 302
    location = response["Location"]
    step("submitted GET", lambda: client.get(location))
    return counts


@pytest.mark.parametrize("step", BUDGETS)
def test_each_step_of_the_flow_stays_within_its_query_budget(
    student_client, stored_1012, signature_data_url, step
):
    counts = flow_queries(student_client, stored_1012[0], signature_data_url)
    budget = BUDGETS[step]
    if step == "pledge POST" and connection.features.has_select_for_update:
        budget += 1  # the person's records locked before their status is classified
    assert counts[step] <= budget, " ".join(f"{k}={v}" for k, v in counts.items())


def test_the_code_request_still_refuses_a_second_code_within_a_minute(
    student_client, stored_1012, _sms_outbox
):
    row = stored_1012[0]
    data = {"name": row["姓名"], "id_number": row["证件号码"]}
    student_client.post(reverse("student:identify"), data)
    page = student_client.post(reverse("student:identify"), data, follow=True)
    assert len(_sms_outbox) == 1
    assert re.search(r'data-countdown="\d+"', page.content.decode())
