"""Production settings: `check --deploy` is clean with the documented environment, a weak
SECRET_KEY stops the start, every page satisfies a strict Content-Security-Policy, and the
transport settings can be turned off by name for a plain-http stack.

Settings are read once per process, so each environment runs in a subprocess.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from config.env import secret_key_problem

BASE_DIR = Path(settings.BASE_DIR)
STRONG_KEY = secrets.token_urlsafe(50)
# The one file the plain-http stack reads (make serve, the browser tests, docker-compose).
PLAIN_HTTP = dict(
    line.split("=", 1)
    for line in (BASE_DIR / "config" / "plain_http.env").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)


def documented_production_env() -> dict[str, str]:
    """The variables .env.example sets, as an operator would copy them."""
    values = {}
    for line in (BASE_DIR / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def run(code_or_args: str | list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run(
        [sys.executable, *args],
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        cwd=BASE_DIR,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_documented_production_environment():
    env = {**documented_production_env(), "SECRET_KEY": STRONG_KEY}
    completed = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "System check identified no issues" in completed.stdout


def test_check_deploy_names_the_development_sms_sender():
    env = {**documented_production_env(), "SECRET_KEY": STRONG_KEY}
    env.pop("SMS_SENDER")
    completed = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert completed.returncode != 0 and "confirmations.W001" in completed.stderr


@pytest.mark.parametrize(
    "key",
    [
        "change-me",  # .env.example's placeholder
        "change-me-in-production",  # docker-compose's old default
        "dev-only-insecure-key-do-not-use-in-production",
        "django-insecure-" + "x" * 60,
        "short-but-random-Zq81",
        "a" * 80,
    ],
)
def test_a_weak_or_published_secret_key_stops_the_start(key):
    env = {**documented_production_env(), "SECRET_KEY": key}
    completed = run("import django; django.setup()", env)
    assert completed.returncode != 0
    assert "SECRET_KEY is weak" in completed.stderr


def test_a_weak_fallback_key_stops_the_start_too():
    env = {
        **documented_production_env(),
        "SECRET_KEY": STRONG_KEY,
        "SECRET_KEY_FALLBACKS": "change-me",
    }
    completed = run("import django; django.setup()", env)
    assert completed.returncode != 0 and "SECRET_KEY_FALLBACKS is weak" in completed.stderr


def test_generated_keys_are_accepted():
    assert secret_key_problem(secrets.token_urlsafe(50)) is None


def test_the_example_key_is_refused_by_name():
    assert secret_key_problem(documented_production_env()["SECRET_KEY"])


def test_docker_compose_no_longer_defaults_the_secret_key():
    compose = (BASE_DIR / "docker-compose.yml").read_text()
    assert "change-me-in-production" not in compose


_REQUEST_SCRIPT = """
import json, django
django.setup()
from django.test import Client
client = Client()
plain = client.get("/accounts/login/")
proxied = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
cookie = proxied.cookies.get("csrftoken")
print(json.dumps({
    "plain_status": plain.status_code,
    "plain_location": plain.get("Location", ""),
    "status": proxied.status_code,
    "hsts": proxied.get("Strict-Transport-Security", ""),
    "csp": proxied.get("Content-Security-Policy", ""),
    "csrf_cookie_secure": bool(cookie and cookie["secure"]),
}))
"""


@pytest.fixture(scope="module")
def collected_static(tmp_path_factory) -> str:
    """Production pages name content-hashed static files: collect them once, as a deploy does."""
    root = tmp_path_factory.mktemp("static")
    env = {**documented_production_env(), "SECRET_KEY": STRONG_KEY, "STATIC_ROOT": str(root)}
    completed = run(["manage.py", "collectstatic", "--noinput", "-v0"], env)
    assert completed.returncode == 0, completed.stderr
    return str(root)


def request_login_page(env: dict[str, str], static_root: str) -> dict:
    completed = run(
        _REQUEST_SCRIPT, {**env, "ALLOWED_HOSTS": "testserver", "STATIC_ROOT": static_root}
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_production_redirects_to_https_and_sends_hsts_behind_the_proxy(collected_static):
    seen = request_login_page(
        {**documented_production_env(), "SECRET_KEY": STRONG_KEY}, collected_static
    )
    assert seen["plain_status"] == 301 and seen["plain_location"].startswith("https://")
    assert seen["status"] == 200
    assert "max-age=31536000" in seen["hsts"] and "includeSubDomains" in seen["hsts"]
    assert "script-src 'self'" in seen["csp"] and seen["csrf_cookie_secure"]


def test_plain_http_stack_turns_the_transport_settings_off_by_name(collected_static):
    env = {**documented_production_env(), "SECRET_KEY": STRONG_KEY, **PLAIN_HTTP}
    seen = request_login_page(env, collected_static)
    assert seen["plain_status"] == 200 and seen["hsts"] == ""
    assert not seen["csrf_cookie_secure"]
    assert "script-src 'self'" in seen["csp"]  # the CSP stays on over plain http


# --- Content-Security-Policy --------------------------------------------------------------------

TEMPLATE_DIRS = [BASE_DIR / "templates", *BASE_DIR.glob("*/templates")]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"""\sstyle\s*=\s*["']""", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""=\s*["']\s*javascript:""", re.IGNORECASE)


def template_files() -> list[Path]:
    return [path for folder in TEMPLATE_DIRS if folder.is_dir() for path in folder.rglob("*.html")]


@pytest.mark.parametrize(
    "pattern",
    [INLINE_SCRIPT, INLINE_HANDLER, INLINE_STYLE, JAVASCRIPT_URL],
    ids=lambda p: p.pattern,
)
def test_no_template_needs_unsafe_inline(pattern):
    offenders = [
        f"{path.relative_to(BASE_DIR)}: {match.group(0)}"
        for path in template_files()
        for match in pattern.finditer(path.read_text())
    ]
    assert not offenders, "move these to static files or CSS classes (the CSP forbids them)"
    assert len(template_files()) > 20


@pytest.mark.django_db
def test_pages_carry_the_policy_and_satisfy_it(client, filer_1012, stored_1012, policy_year):
    client.force_login(filer_1012)
    for url in [
        reverse("enrollment:dashboard"),
        reverse("enrollment:record_list"),
        reverse("desk:activation"),
        reverse("desk:desk"),
        reverse("student:home"),
    ]:
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy, url
        assert "frame-ancestors 'none'" in policy
        html = response.content.decode()
        for pattern in (INLINE_SCRIPT, INLINE_HANDLER, INLINE_STYLE, JAVASCRIPT_URL):
            assert not pattern.search(html), (url, pattern.pattern)
