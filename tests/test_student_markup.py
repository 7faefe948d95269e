"""The student pages' markup written in Python for speed (issue 14) reads as Django's own."""

from __future__ import annotations

import pytest
from django import forms
from django.test import override_settings
from django.urls import reverse, set_script_prefix
from django.utils.safestring import mark_safe

from confirmations.forms import CodeForm, IdentifyForm, TextInput
from confirmations.templatetags.student_pages import identified, page_url

ATTRS = [
    {},
    {"autocomplete": "off", "autocapitalize": "characters", "maxlength": "30"},
    {"required": True, "disabled": False, "aria-invalid": "true", "id": "id_x"},
    {"data-x": "a\"b<c>&'d", "data-none": None},
]
VALUES = [None, "", "李雷", 'x" onfocus="alert(1)', "<b>&amp;</b>", mark_safe("<i>"), 123456]


@pytest.mark.parametrize("attrs", ATTRS)
@pytest.mark.parametrize("value", VALUES)
def test_text_input_writes_the_markup_of_djangos_templates(attrs, value):
    ours = TextInput(attrs={"inputmode": "numeric"}).render("code", value, attrs=attrs)
    django = forms.TextInput(attrs={"inputmode": "numeric"}).render("code", value, attrs=attrs)
    assert ours == django


@pytest.mark.parametrize(
    "form",
    [
        IdentifyForm(initial={"name": "韩梅梅", "id_number": ""}),
        IdentifyForm({"name": "", "id_number": "1101"}),
        CodeForm(),
        CodeForm({"code": "12a"}),
    ],
)
def test_the_flows_forms_render_their_fields_as_django_would(form):
    for field in form:
        assert str(field) == field.as_widget(widget=forms.TextInput(attrs=field.field.widget.attrs))


@pytest.mark.django_db
def test_identify_page_marks_the_missing_field_invalid(client, policy_year):
    html = client.post(reverse("student:identify"), {"name": "", "id_number": "X"}).content.decode()
    assert (
        '<input type="text" name="name" autocomplete="name" maxlength="30" required'
        ' aria-invalid="true" aria-describedby="id_name_error" id="id_name">' in html
    )
    assert (
        '<input type="text" name="id_number" value="X" autocomplete="off"'
        ' autocapitalize="characters" maxlength="30" required id="id_id_number">' in html
    )


def test_page_url_is_the_pages_reversed_address():
    assert page_url("student:identify") == reverse("student:identify") == "/student/identify/"


def test_page_url_follows_a_new_script_prefix():
    page_url("student:home")
    set_script_prefix("/portal/")
    try:
        assert page_url("student:home") == "/portal/student/"
    finally:
        set_script_prefix("/")
    assert page_url("student:home") == "/student/"


def test_page_url_follows_a_new_urlconf():
    page_url("student:home")
    with override_settings(ROOT_URLCONF="tests.urls_student_elsewhere"):
        assert page_url("student:home") == "/elsewhere/"
    assert page_url("student:home") == "/student/"


@pytest.mark.parametrize(
    "session, shown",
    [
        ({"student": {"record_ids": [1]}}, True),
        ({"student_code": {"code_id": 1}}, False),
        ("", False),
    ],
)
def test_identified_is_a_session_holding_a_student(session, shown):
    assert identified(session) is shown


@pytest.mark.django_db
def test_the_header_offers_sign_out_only_once_identified(client, sign_in_student, stored_1012):
    sign_out = f'action="{reverse("student:sign_out")}"'
    assert sign_out not in client.get(reverse("student:identify")).content.decode()
    sign_in_student(client, stored_1012[0]["姓名"], stored_1012[0]["证件号码"])
    assert sign_out in client.get(reverse("student:home")).content.decode()
