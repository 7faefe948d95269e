"""A field's aria-describedby names elements on the page: its error and its help text.

Django 5.2 points an invalid field at "<id>_error" and a field with help text at
"<id>_helptext"; a screen reader reads those elements when the field is focused, so a page that
writes its errors or help without those ids leaves the reference pointing nowhere.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from tests.test_student_pages import sign_in

pytestmark = pytest.mark.django_db


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.described_by: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        self.described_by.update((values.get("aria-describedby") or "").split())


def references(response) -> tuple[set[str], set[str]]:
    """The ids the page's fields refer to, and those of them that no element carries."""
    parser = _References()
    parser.feed(response.content.decode())
    return parser.described_by, parser.described_by - parser.ids


@pytest.fixture
def student(stored_1012, policy_year):
    return stored_1012[0]


def test_identify_errors_are_the_elements_their_fields_name(client, policy_year):
    response = client.post(reverse("student:identify"), {"name": "", "id_number": ""})
    named, dangling = references(response)
    assert {"id_name_error", "id_id_number_error"} <= named
    assert dangling == set()


def test_pledge_errors_are_the_elements_their_fields_name(client, student, _sms_outbox):
    sign_in(client, student, _sms_outbox)
    client.get(reverse("student:start"))
    response = client.post(reverse("student:pledge"), {"signature": ""})
    named, dangling = references(response)
    assert named and dangling == set()


def test_estimate_help_and_errors_are_the_elements_their_fields_name(client, student, _sms_outbox):
    sign_in(client, student, _sms_outbox)
    response = client.post(reverse("student:estimate"), {"total_cost": "-1"})
    named, dangling = references(response)
    assert any(name.endswith("_helptext") for name in named)
    assert any(name.endswith("_error") for name in named)
    assert dangling == set()


def test_staff_form_help_is_the_element_its_field_names(client, filer_1012):
    client.force_login(filer_1012)
    response = client.post(reverse("enrollment:record_create"), {})
    named, dangling = references(response)
    assert "id_name_helptext" in named
    assert dangling == set()
