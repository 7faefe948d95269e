"""config.sessions: Django's cached_db sessions in fewer statements (issue 14), same guarantees:
every write reaches the database, the key changes when a student is identified, a collision
or a session deleted meanwhile is handled as Django handles it."""

from __future__ import annotations

import pytest
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config import sessions

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def session_cache(settings):
    settings.CACHES = {
        **settings.CACHES,
        "sessions": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    settings.SESSION_CACHE_ALIAS = "sessions"
    caches._settings = caches.settings = settings.CACHES  # the handler read them once
    caches._connections.__dict__.pop("sessions", None)
    cache = caches["sessions"]
    yield cache
    cache.clear()


def stored(key: str) -> dict | None:
    row = Session.objects.filter(session_key=key).first()
    return None if row is None else sessions.SessionStore().decode(row.session_data)


def test_a_new_session_is_one_insert_without_looking_its_key_up():
    session = sessions.SessionStore()
    session["record_ids"] = [7]
    with CaptureQueriesContext(connection) as captured:
        session.save()
    assert [q["sql"].split()[0] for q in captured] == ["INSERT"]
    assert stored(session.session_key) == {"record_ids": [7]}


def test_a_change_is_one_update_in_the_database_and_the_cache(session_cache):
    session = sessions.SessionStore()
    session["step"] = "record"
    session.save()
    again = sessions.SessionStore(session.session_key)
    again["step"] = "pledge"
    with CaptureQueriesContext(connection) as captured:
        again.save()
    assert [q["sql"].split()[0] for q in captured] == ["UPDATE"]
    assert stored(session.session_key) == {"step": "pledge"}
    session_cache.clear()  # Redis lost: the database answers
    assert sessions.SessionStore(session.session_key)["step"] == "pledge"


def test_cycling_the_key_keeps_the_data_under_a_new_key_and_drops_the_old_one(session_cache):
    session = sessions.SessionStore()
    session["student_code"] = {"code_id": 1}
    session.save()
    old_key = session.session_key
    with CaptureQueriesContext(connection) as captured:
        session.cycle_key()
        session.pop("student_code")
        session["student"] = {"record_ids": [7]}
        session.save()  # what the session middleware does at the end of the request
    assert [q["sql"].split()[0] for q in captured] == ["UPDATE"]  # the old row renamed
    assert session.session_key != old_key
    assert stored(old_key) is None
    assert sessions.SessionStore(old_key).load() == {}  # neither in the cache
    assert stored(session.session_key) == {"student": {"record_ids": [7]}}
    assert sessions.SessionStore(session.session_key)["student"] == {"record_ids": [7]}


def test_a_flush_after_cycling_the_key_deletes_the_old_session(session_cache):
    session = sessions.SessionStore()
    session["student_code"] = {"code_id": 1}
    session.save()
    old_key = session.session_key
    session.cycle_key()
    session.flush()  # signed out in the same request: the old key must not live on
    assert stored(old_key) is None
    assert sessions.SessionStore(old_key).load() == {}


def test_cycling_the_key_of_a_session_deleted_meanwhile_saves_it_under_the_new_key():
    session = sessions.SessionStore()
    session["student_code"] = {"code_id": 1}
    session.save()
    old_key = session.session_key
    session.cycle_key()
    sessions.SessionStore().delete(old_key)  # expired and cleared, or signed out elsewhere
    session["student"] = {"record_ids": [7]}
    session.save()
    assert session.session_key != old_key and stored(old_key) is None
    assert stored(session.session_key) == {
        "student_code": {"code_id": 1},
        "student": {"record_ids": [7]},
    }


def test_cycling_to_a_key_that_is_taken_draws_another_and_keeps_the_taken_one(monkeypatch):
    taken = sessions.SessionStore()
    taken["owner"] = "first"
    taken.save()
    session = sessions.SessionStore()
    session["owner"] = "second"
    session.save()
    old_key = session.session_key
    session.cycle_key()
    keys = iter([taken.session_key, "k" * 32])
    monkeypatch.setattr(sessions.SessionStore, "_get_new_session_key", lambda self: next(keys))
    session.save()
    assert session.session_key == "k" * 32 and stored(old_key) is None
    assert stored(taken.session_key) == {"owner": "first"}
    assert stored("k" * 32) == {"owner": "second"}


def test_a_new_key_that_is_taken_is_drawn_again(monkeypatch):
    taken = sessions.SessionStore()
    taken["owner"] = "first"
    taken.save()
    keys = iter([taken.session_key, "k" * 32])
    monkeypatch.setattr(sessions.SessionStore, "_get_new_session_key", lambda self: next(keys))
    session = sessions.SessionStore()
    session["owner"] = "second"
    session.save()
    assert session.session_key == "k" * 32
    assert stored(taken.session_key) == {"owner": "first"}
    assert stored("k" * 32) == {"owner": "second"}


def test_saving_a_session_deleted_meanwhile_is_refused_as_django_refuses_it():
    session = sessions.SessionStore()
    session["step"] = "record"
    session.save()
    sessions.SessionStore().delete(session.session_key)  # signed out in another tab
    session["step"] = "pledge"
    with pytest.raises(UpdateError):
        session.save()
    assert stored(session.session_key) is None


def test_a_session_of_this_store_outlives_a_redis_outage(settings):
    settings.CACHES = {
        **settings.CACHES,
        "sessions": {
            "BACKEND": "config.redis_cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        },
    }
    caches._settings = caches.settings = settings.CACHES
    caches._connections.__dict__.pop("sessions", None)
    session = sessions.SessionStore()
    session["record_ids"] = [1, 2]
    session.save()
    session.cycle_key()
    session.save()
    again = sessions.SessionStore(session.session_key)
    assert again["record_ids"] == [1, 2]
    again["step"] = "pledge"
    again.save()
    assert sessions.SessionStore(session.session_key)["step"] == "pledge"


def _forgets_nothing(key, version=None):
    return False  # Redis timed out on the delete: the entry stays


def _minutes_later(monkeypatch, minutes: float) -> None:
    import time

    from django.core.cache.backends import locmem

    now = time.time() + minutes * 60
    monkeypatch.setattr(locmem.time, "time", lambda: now)


@pytest.mark.parametrize("cached_by", ["save", "load"])
def test_a_session_signed_out_while_the_cache_could_not_forget_it_is_refused_within_minutes(
    session_cache, monkeypatch, cached_by
):
    # A staff session lives for hours; if sign-out could not delete its cache entry (Redis
    # failing soft), a stolen cookie must not read the signed-in data for those hours.
    session = sessions.SessionStore()
    session["_auth_user_id"] = "7"
    session.set_expiry(8 * 3600)
    session.save()
    if cached_by == "load":
        session_cache.clear()
        assert sessions.SessionStore(session.session_key)["_auth_user_id"] == "7"  # re-cached
    monkeypatch.setattr(session_cache, "delete", _forgets_nothing)
    sessions.SessionStore(session.session_key).delete()
    _minutes_later(monkeypatch, sessions.CACHE_SECONDS / 60 + 1)
    assert sessions.SessionStore(session.session_key).load() == {}


def test_a_live_session_is_read_from_the_database_once_its_cache_entry_ends(
    session_cache, monkeypatch
):
    session = sessions.SessionStore()
    session["step"] = "pledge"
    session.set_expiry(8 * 3600)
    session.save()
    _minutes_later(monkeypatch, sessions.CACHE_SECONDS / 60 + 1)
    with CaptureQueriesContext(connection) as captured:
        assert sessions.SessionStore(session.session_key)["step"] == "pledge"
    assert len(captured) == 1
