"""No URL of the site answers a hostile parameter with a 500 (review 7).

PostgreSQL refuses a NUL character in any string and a number past bigint; a view that hands a
raw parameter to a query would fail there. Every URL of the access table is asked, as every
persona, by GET and by POST, with each field its page shows (and the usual list parameters) set
to a NUL, a very long text and a very long number, and with a NUL in its path argument. Run it
on PostgreSQL too: SQLite stores NUL and big numbers without complaint.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from tests.test_access import ACCESS, PERSONAS, world  # noqa: F401  (world is a fixture)

pytestmark = pytest.mark.django_db

HOSTILE = {
    "nul": "a\x00b",
    "long text": "张" * 20_000,
    "long number": "9" * 40,
}
# Parameters list pages read from the query string, whether or not a form shows them.
COMMON = ("s", "page", "campus", "status", "school", "year", "ids", "q", "next", "format")
ROWS = {(row.name, row.args): row for row in ACCESS}


class _Fields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def handle_starttag(self, tag, attrs):
        name = dict(attrs).get("name")
        if tag in ("input", "select", "textarea", "button") and name:
            self.names.add(name)


def field_names(client, url: str) -> set[str]:
    response = client.get(url)
    parser = _Fields()
    if response.status_code == 200 and "html" in response.get("Content-Type", ""):
        parser.feed(response.content.decode())
    return (parser.names - {"csrfmiddlewaretoken"}) | set(COMMON)


@pytest.mark.parametrize(
    "key", list(ROWS), ids=[f"{name}{args and '-' + args}" for name, args in ROWS]
)
def test_hostile_parameters_never_give_a_server_error(
    world,  # noqa: F811  (the fixture imported above)
    key,
    django_capture_on_commit_callbacks,
):
    name, args = key
    url = reverse(name, args=[getattr(world, args)] if args else [])
    failures = []
    for persona in PERSONAS:
        client = world.clients[persona]
        client.raise_request_exception = False
        names = field_names(client, url)
        for label, value in HOSTILE.items():
            data = dict.fromkeys(names, value)
            for method in ("get", "post"):
                with django_capture_on_commit_callbacks(execute=True):
                    response = getattr(client, method)(url, data)
                if response.status_code >= 500:
                    failures.append(f"{method.upper()} {persona} {label}: {response.status_code}")
        if args:
            hostile_url = url.replace(str(getattr(world, args)), "1%00")
            for method in ("get", "post"):
                response = getattr(client, method)(hostile_url)
                if response.status_code >= 500:
                    failures.append(
                        f"{method.upper()} {persona} NUL in path: {response.status_code}"
                    )
    assert not failures, f"{url}: {failures}"


def test_nul_in_a_query_string_is_a_bad_request(client):
    response = client.get(reverse("student:questions"), {"q": "a\x00b"})
    assert response.status_code == 400


def test_nul_in_a_path_argument_is_a_bad_request(client):
    assert client.get("/student/applications/1%00/").status_code == 400


def test_overlong_username_is_a_form_error_not_a_login_attempt(client, filer_1012):
    from axes.models import AccessAttempt

    response = client.post(reverse("login"), {"username": "张" * 300, "password": "x"})
    assert response.status_code == 200 and response.context["form"].errors
    assert not AccessAttempt.objects.exists()
