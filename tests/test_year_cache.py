"""The current policy year is kept between requests and never served after a change (issue 14).

"Another process" is simulated the way it shows: the shared token changes under this process.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from confirmations import year_cache
from confirmations.models import PolicyYear

pytestmark = pytest.mark.django_db


def shared_cache(settings, backend: dict) -> None:
    settings.CACHES = {**settings.CACHES, "year-test": backend}
    settings.SHARED_CACHE_ALIAS = "year-test"
    caches._settings = caches.settings = settings.CACHES  # the handler read them once
    caches._connections.__dict__.pop("year-test", None)


@pytest.fixture
def shared(settings):
    shared_cache(settings, {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"})
    cache = caches["year-test"]
    yield cache
    cache.clear()


def reads(call) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        value = call()
    return len(captured), value


def test_the_current_year_is_read_once_while_nothing_changes(shared, policy_year):
    assert reads(PolicyYear.current)[0] == 1
    count, year = reads(PolicyYear.current)
    assert count == 0
    assert year.pk == policy_year.pk
    assert year.city.name == policy_year.city.name  # the city comes with it


def test_a_saved_change_is_read_at_once(shared, policy_year, today):
    PolicyYear.current()
    policy_year.closing_date = today
    policy_year.pledge_text = "本人 {name} 承诺……（新版）"
    policy_year.save()
    year = PolicyYear.current()
    assert year.closing_date == today
    assert year.pledge_text == "本人 {name} 承诺……（新版）"
    assert year.pledge_version == 2


def test_a_change_saved_by_another_process_is_read_on_the_next_call(shared, policy_year, today):
    PolicyYear.current()
    PolicyYear.objects.filter(pk=policy_year.pk).update(closing_date=today)  # no signal here
    shared.set(year_cache.TOKEN_KEY, "another-process-saved")  # …the other process's signal
    assert PolicyYear.current().closing_date == today


def test_a_changed_city_is_read_again(shared, policy_year):
    PolicyYear.current()
    city = policy_year.city
    city.hotline = "12393"
    city.save()
    assert PolicyYear.current().city.hotline == "12393"


def test_a_deleted_year_is_not_served(shared, policy_year):
    PolicyYear.current()
    policy_year.delete()
    assert PolicyYear.current() is None


def test_the_next_day_asks_the_database_again(shared, policy_year, today):
    PolicyYear.current(today)
    assert reads(lambda: PolicyYear.current(today + dt.timedelta(days=1)))[0] == 1


def test_a_request_that_changes_its_year_changes_no_other_requests(shared, policy_year):
    PolicyYear.current().premium = 0
    assert PolicyYear.current().premium == policy_year.premium


def test_an_entry_older_than_its_limit_is_read_again(shared, policy_year, monkeypatch):
    PolicyYear.current()
    later = year_cache.time.monotonic() + year_cache.MAX_AGE_SECONDS + 1
    monkeypatch.setattr(year_cache.time, "monotonic", lambda: later)
    assert reads(PolicyYear.current)[0] == 1


def test_with_redis_down_every_call_reads_the_database(settings, policy_year):
    shared_cache(
        settings,
        {
            "BACKEND": "config.redis_cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        },
    )
    assert reads(PolicyYear.current)[0] == 1
    count, year = reads(PolicyYear.current)
    assert count == 1
    assert year.pk == policy_year.pk


def test_without_a_shared_cache_every_call_reads_the_database(settings, policy_year):
    settings.SHARED_CACHE_ALIAS = ""
    PolicyYear.current()
    assert reads(PolicyYear.current)[0] == 1
