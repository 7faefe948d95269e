"""Issue 13, the desk's part: per-campus links, reminders, the failure list, the batch-by-list
result, no self-reload, the handler's expectations and the desk as a picture."""

from __future__ import annotations

import datetime as dt
import io
import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from confirmations.models import Application
from enrollment.models import StudentRecord
from schools.models import Campus

pytestmark = pytest.mark.django_db


def links(html: str, text: str) -> list[str]:
    """The targets of the page's links that read `text`."""
    return [
        unescape(href)
        for href, label in re.findall(r'<a href="([^"]*)"[^>]*>([^<]*)</a>', html)
        if label.strip() == text
    ]


# --- defect 1: the desk's per-campus links filter by campus --------------------------------------


def test_desk_confirm_link_lists_only_that_campus_unconfirmed(
    client, handler_minhang, stored_1012, policy_year
):
    client.force_login(handler_minhang)
    branch = Campus.objects.get(code="101201")
    html = client.get(reverse("desk:desk")).content.decode()
    targets = links(html, "代确认")
    assert f"{reverse('desk:activation')}?campus={branch.pk}&status=unconfirmed" in targets
    target = next(t for t in targets if f"campus={branch.pk}&" in t)
    page = client.get(target).context["page"]
    assert page.paginator.count == StudentRecord.objects.filter(campus=branch).count() == 5


def test_desk_records_link_lists_only_that_campus(
    client, handler_minhang, stored_1012, policy_year
):
    client.force_login(handler_minhang)
    branch = Campus.objects.get(code="101201")
    html = client.get(reverse("desk:desk")).content.decode()
    target = next(t for t in links(html, "记录") if f"campus={branch.pk}" in t)
    page = client.get(target).context["page"]
    assert {record.campus_code for record in page} == {"101201"}
    assert page.paginator.count == 5


def test_records_list_filters_by_campus(client, filer_1012, stored_1012):
    client.force_login(filer_1012)
    main = Campus.objects.get(code="101200")
    page = client.get(reverse("enrollment:record_list"), {"campus": main.pk}).context["page"]
    assert {record.campus_code for record in page} == {"101200"}


def test_dashboard_record_links_name_each_campus(client, filer_1012, stored_1012):
    client.force_login(filer_1012)
    html = client.get(reverse("enrollment:dashboard")).content.decode()
    targets = links(html, "查看记录")
    campuses = Campus.objects.filter(code__in=["101200", "101201"])
    assert len(set(targets)) == len(targets) == 2
    for campus in campuses:
        assert any(f"campus={campus.pk}" in target for target in targets)


def test_desk_lists_campuses_with_nothing_uploaded(client, handler_xuhui, stored_1012, policy_year):
    client.force_login(handler_xuhui)
    progress = client.get(reverse("desk:desk")).context["progress"]
    empty = next(row for row in progress if row["campus__code"] == "101300")
    assert (empty["uploaded"], empty["unconfirmed"]) == (0, 0)


def test_reconciliation_link_exports_that_campus(client, filer_1012, stored_1012, policy_year):
    client.force_login(filer_1012)
    html = client.get(reverse("desk:desk")).content.decode()
    target = next(t for t in links(html, "对账表") if "101201" in t)
    book = load_workbook(io.BytesIO(client.get(target).content))
    summary = list(book["对账汇总"].iter_rows(min_row=2, values_only=True))
    assert [row[2] for row in summary] == ["101201"]


def test_names_on_the_desk_do_not_wrap(client, filer_1012, stored_1012, policy_year):
    client.force_login(filer_1012)
    html = client.get(reverse("desk:activation")).content.decode()
    record = StudentRecord.objects.order_by("pk").first()
    assert f'<td class="name">{record.name}</td>' in html


# --- defect 13: the desk never reloads itself ---------------------------------------------------


def late_application(filer, policy_year, monkeypatch, capture):
    monkeypatch.setattr("confirmations.tasks.create_account.apply_async", lambda *a, **k: None)
    record = StudentRecord.objects.order_by("pk").first()
    with capture(execute=True):
        filer.post(reverse("desk:batch_confirm"), {"ids": [record.pk], "attested": "on"})
    Application.objects.update(
        submitted_at=timezone.now() - dt.timedelta(minutes=policy_year.promised_minutes + 5)
    )


def test_desk_with_late_applications_does_not_reload_itself(
    client, filer_1012, stored_1012, policy_year, monkeypatch, django_capture_on_commit_callbacks
):
    client.force_login(filer_1012)
    late_application(client, policy_year, monkeypatch, django_capture_on_commit_callbacks)
    response = client.get(reverse("desk:desk"))
    assert len(response.context["late"]) == 1
    html = response.content.decode()
    assert 'http-equiv="refresh"' not in html
    assert "desk/desk_numbers.js" in html and "<script>" not in html


def test_desk_numbers_update_from_a_json_endpoint(
    client, filer_1012, stored_1012, policy_year, monkeypatch, django_capture_on_commit_callbacks
):
    client.force_login(filer_1012)
    late_application(client, policy_year, monkeypatch, django_capture_on_commit_callbacks)
    numbers = client.get(reverse("desk:numbers")).json()
    assert numbers["late"] == 1
    assert numbers["campuses"]["101200"]["pending"] == 1
    assert numbers["campuses"]["101200"]["uploaded"] == 5
    html = client.get(reverse("desk:desk")).content.decode()
    assert 'data-count="101200:pending"' in html and 'data-count="late"' in html
