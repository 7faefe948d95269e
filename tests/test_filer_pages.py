"""The filer's pages as issue 13 found them: the record form, the preview, edit and delete."""

from __future__ import annotations

import pytest
from django.urls import reverse

from enrollment import rules

pytestmark = pytest.mark.django_db
EMPTY_FORM = {spec.attribute: "" for spec in rules.FIELDS}  # what a browser posts


def test_empty_new_record_form_shows_every_required_field_error_at_once(client, filer_1012):
    client.force_login(filer_1012)
    response = client.post(reverse("enrollment:record_create"), EMPTY_FORM)
    form = response.context["form"]
    required = {spec.attribute for spec in rules.FIELDS if spec.required}
    assert required <= set(form.errors)


def test_empty_drop_down_asks_to_choose_not_to_fill_in(client, filer_1012):
    client.force_login(filer_1012)
    form = client.post(reverse("enrollment:record_create"), EMPTY_FORM).context["form"]
    assert form.errors["sex"] == ["请选择性别"]
    assert form.errors["campus_code"] == ["请选择总分校编码"]
    assert form.errors["name"] == ["姓名不能为空，请填写"]
