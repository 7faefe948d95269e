"""Sessions are read from Redis on the production stack (issue 14) and survive its outage
(issue 11); in the database without Redis.

Settings are read once per process, so each environment runs in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys

from django.conf import settings
from django.test import Client

SHOW = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.SESSION_ENGINE, s.CACHES.get(getattr(s, 'SESSION_CACHE_ALIAS', ''), {})]))"
)


def settings_with(env: dict[str, str]) -> list:
    completed = subprocess.run(
        [sys.executable, "-c", SHOW],
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_sessions_are_kept_in_redis_when_the_stack_has_redis():
    engine, cache = settings_with(
        {"REDIS_URL": "redis://127.0.0.1:6379/3", "CELERY_QUEUE_PREFIX": "site-a-"}
    )
    assert engine == "config.sessions"  # Django's cached_db, fewer statements
    assert cache["BACKEND"] == "config.redis_cache.RedisCache"
    assert cache["LOCATION"] == "redis://127.0.0.1:6379/3"
    assert cache["KEY_PREFIX"] == "sessions:site-a-"


def test_sessions_stay_in_the_database_without_redis():
    engine, _ = settings_with({})
    assert engine == "django.contrib.sessions.backends.db"


def test_the_benchmarks_trivial_view_does_not_exist_unless_the_bench_turns_it_on(db):
    assert settings.BENCH_TRIVIAL_VIEW is False
    assert Client().get("/bench/trivial/").status_code == 404


def test_the_session_cache_reuses_one_redis_client_instead_of_building_one_per_call():
    from config.redis_cache import RedisCache

    cache = RedisCache("redis://127.0.0.1:6379/3", {})
    first = cache._cache.get_client("session-a")
    assert cache._cache.get_client("session-b") is first
    assert cache._cache.get_client("session-a", write=True) is first  # one server: one pool


def test_a_session_outlives_a_redis_outage(db, settings):
    """Redis stopped: the session is read from the database, writes still stick, no error."""
    from importlib import import_module

    from django.core.cache import caches

    settings.CACHES = {
        **settings.CACHES,
        "sessions": {
            "BACKEND": "config.redis_cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        },
    }
    settings.SESSION_CACHE_ALIAS = "sessions"
    caches._settings = caches.settings = settings.CACHES  # the handler read them once
    caches._connections.__dict__.pop("sessions", None)
    store = import_module("django.contrib.sessions.backends.cached_db").SessionStore
    session = store()
    session["record_ids"] = [1, 2]
    session.save()
    again = store(session.session_key)
    assert again["record_ids"] == [1, 2]
    again["step"] = "pledge"
    again.save()
    assert store(session.session_key)["step"] == "pledge"
