"""`make serve` refuses to start the production stack on what would not hold up."""

from __future__ import annotations

import secrets
import subprocess
import sys

from django.conf import settings

from config.serve import refusals, stack_environ

GOOD = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/portal",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": secrets.token_urlsafe(50),
}


def test_accepts_postgresql_redis_and_a_long_secret_key():
    assert refusals(GOOD) == []


def test_refuses_without_a_database_url():
    (problem,) = refusals({**GOOD, "DATABASE_URL": ""})
    assert problem.startswith("DATABASE_URL is not set")


def test_refuses_sqlite():
    (problem,) = refusals({**GOOD, "DATABASE_URL": "sqlite:///var/db.sqlite3"})
    assert "DATABASE_URL points at sqlite, not PostgreSQL" in problem


def test_refuses_without_redis():
    (problem,) = refusals({**GOOD, "REDIS_URL": ""})
    assert problem.startswith("REDIS_URL is not set")


def test_refuses_a_broker_that_is_not_redis():
    (problem,) = refusals({**GOOD, "REDIS_URL": "filesystem://"})
    assert problem.startswith("REDIS_URL must be a redis://")


def test_refuses_without_a_secret_key():
    (problem,) = refusals({**GOOD, "SECRET_KEY": ""})
    assert problem.startswith("SECRET_KEY is not set")


def test_refuses_a_short_secret_key():
    (problem,) = refusals({**GOOD, "SECRET_KEY": secrets.token_urlsafe(20)})
    assert "use at least 50 random ones" in problem


def test_refuses_a_published_placeholder_key_however_long():
    (problem,) = refusals({**GOOD, "SECRET_KEY": "change-me-in-production" * 3})
    assert "published placeholder" in problem


def test_stack_runs_with_debug_off_whatever_the_shell_says():
    assert stack_environ({"DJANGO_DEBUG": "1"})["DJANGO_DEBUG"] == "0"


def test_plain_http_settings_are_defaults_an_explicit_value_overrides():
    plain = {"PLAIN_HTTP": "1"}
    assert stack_environ(plain)["SESSION_COOKIE_SECURE"] == "0"
    assert stack_environ({**plain, "SESSION_COOKIE_SECURE": "1"})["SESSION_COOKIE_SECURE"] == "1"


def test_stack_keeps_the_https_settings_unless_plain_http_is_asked_for():
    env = stack_environ({})
    for name in ("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE"):
        assert name not in env


def test_make_serve_passes_plain_http_only_when_given():
    def serve_command(*args: str) -> str:
        return subprocess.run(
            ["make", "-n", "serve", *args],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert "PLAIN_HTTP= " in serve_command()
    assert "PLAIN_HTTP=1 " in serve_command("PLAIN_HTTP=1")


def test_make_serve_refuses_before_starting_anything():
    completed = subprocess.run(
        [sys.executable, "-m", "config.serve"],
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "sqlite:///tmp/x.sqlite3"},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "DATABASE_URL points at sqlite" in completed.stderr
    assert "REDIS_URL is not set" in completed.stderr
    assert "SECRET_KEY is not set" in completed.stderr
    assert completed.stdout == ""  # nothing migrated, nothing started
