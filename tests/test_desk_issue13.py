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

from confirmations.models import Application, CoverageRecord
from confirmations.status import statuses_refresh
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
    long_ago = timezone.now() - dt.timedelta(minutes=policy_year.promised_minutes + 5)
    Application.objects.update(submitted_at=long_ago, last_queued_at=long_ago)


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


# --- defect 3: a student appears once in the failure list ---------------------------------------


def confirm(client, capture, *records):
    with capture(execute=True):
        client.post(
            reverse("desk:batch_confirm"), {"ids": [r.pk for r in records], "attested": "on"}
        )


def test_student_reconfirmed_after_a_failure_appears_once_in_the_failure_list(
    client, filer_1012, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    client.force_login(filer_1012)
    records = list(StudentRecord.objects.order_by("pk")[:3])
    for record in records:
        CoverageRecord.objects.create(id_number=record.id_number, name=record.name, kind="employee")
    confirm(client, django_capture_on_commit_callbacks, *records)
    confirm(client, django_capture_on_commit_callbacks, records[0])  # refused again
    assert Application.objects.filter(state="failed").count() == 4
    response = client.get(reverse("desk:desk"))
    failed = [application.record_id for application, _ in response.context["failed"]]
    assert sorted(failed) == sorted(record.pk for record in records)
    in_table = sum(row["failed"] for row in response.context["progress"])
    assert in_table == len(failed) == 3
    assert '建账失败（<span data-count="failed">3</span>）' in response.content.decode()


# --- defect 2: reminders go only to the desk's 未确认, after the handler saw who ----------------


@pytest.fixture
def failed_and_account_elsewhere(stored_1012, filer_1014, policy_year, listed_at_1014):
    """Student 0 of 1012 failed through 1014; student 1 already has an account (not through
    1012). Returns their two 1012 records."""
    from confirmations import services
    from confirmations.models import InsuranceAccount

    failed, with_account = stored_1012[0], stored_1012[1]
    at_1014 = listed_at_1014(failed)
    CoverageRecord.objects.create(
        id_number=failed["证件号码"], name=failed["姓名"], kind="employee"
    )
    application = services.application_submit(
        record=at_1014, policy_year=policy_year, confirmed_by=filer_1014, paper_pledge_attested=True
    )
    services.account_create(application_id=application.pk)
    assert Application.objects.get(pk=application.pk).state == Application.State.FAILED
    # An account made outside the portal's pipeline (no application): stored as the gateway's
    # writes are, with the person's statuses refreshed in the same step.
    InsuranceAccount.objects.create(id_number=with_account["证件号码"], name=with_account["姓名"])
    statuses_refresh(id_numbers=[with_account["证件号码"]])
    return [
        StudentRecord.objects.get(school__code="1012", id_number=student["证件号码"])
        for student in (failed, with_account)
    ]


def test_reminder_count_equals_the_desks_unconfirmed_column(
    client, filer_1012, school_1012, failed_and_account_elsewhere, policy_year
):
    client.force_login(filer_1012)
    progress = client.get(reverse("desk:desk")).context["progress"]
    column = sum(row["unconfirmed"] for row in progress if row["school__code"] == "1012")
    plan = client.get(reverse("desk:remind_preview"), {"school": school_1012.pk}).context["plan"]
    assert plan.unconfirmed == column == 8
    assert plan.recipients + plan.unwilling + plan.no_mobile + plan.recently_reminded == column


def test_reminders_skip_students_who_failed_or_have_an_account_elsewhere(
    client,
    filer_1012,
    school_1012,
    failed_and_account_elsewhere,
    policy_year,
    _sms_outbox,
    django_capture_on_commit_callbacks,
):
    client.force_login(filer_1012)
    plan = client.get(reverse("desk:remind_preview"), {"school": school_1012.pk}).context["plan"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("desk:remind"), {"school": school_1012.pk, "expected": plan.recipients})
    texted = {phone for phone, _ in _sms_outbox}
    assert len(_sms_outbox) == plan.recipients == 8
    assert not texted & {record.phone for record in failed_and_account_elsewhere}


def test_reminder_shows_who_will_be_texted_and_sends_nothing_before_confirmation(
    client,
    filer_1012,
    school_1012,
    stored_1012,
    policy_year,
    _sms_outbox,
    django_capture_on_commit_callbacks,
):
    client.force_login(filer_1012)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("desk:remind"), {"school": school_1012.pk})
    assert response.url == f"{reverse('desk:remind_preview')}?school={school_1012.pk}"
    assert _sms_outbox == []
    html = client.get(response.url).content.decode()
    assert "将向 10 名学生发送提醒短信" in html and "确认发送 10 条提醒短信" in html
    listed = client.get(response.url + "&list=1").content.decode()
    record = StudentRecord.objects.order_by("pk").first()
    assert record.name in listed and record.phone not in listed  # phones masked
    assert _sms_outbox == []


def test_reminder_is_not_sent_when_the_number_changed_since_the_preview(
    client,
    filer_1012,
    school_1012,
    stored_1012,
    policy_year,
    _sms_outbox,
    django_capture_on_commit_callbacks,
):
    client.force_login(filer_1012)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("desk:remind"), {"school": school_1012.pk, "expected": "7"}, follow=True
        )
    assert _sms_outbox == []
    assert "已从 7 人变为 10 人，未发送" in response.content.decode()


def test_failure_superseded_elsewhere_leaves_the_list_and_the_table_alike(
    client, city_admin, failed_and_account_elsewhere, stored_1012, registry, policy_year
):
    """Student 0 failed through 1014, then confirmed through 1012: neither the failure list
    nor the campus table counts the failure any more."""
    from confirmations import services

    record = failed_and_account_elsewhere[0]
    CoverageRecord.objects.filter(id_number=record.id_number).delete()
    application = services.application_submit(
        record=record, policy_year=policy_year, confirmed_by=city_admin, paper_pledge_attested=True
    )
    services.account_create(application_id=application.pk)
    client.force_login(city_admin)
    response = client.get(reverse("desk:desk"))
    in_table = sum(row["failed"] for row in response.context["progress"])
    assert in_table == len(response.context["failed"]) == 0
    at_1014 = next(r for r in response.context["progress"] if r["campus__code"] == "101400")
    assert at_1014["elsewhere"] == 1


# --- defect 4: the batch-by-list result can be acted on -----------------------------------------


def id_list(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["证件号码", "姓名"])
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_batch_by_list_accounts_for_every_row_names_whom_and_where_rows_failed(
    client, filer_1012, school_1012, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(filer_1012)
    students = stored_1012
    content = id_list(
        [
            [students[0]["证件号码"], students[0]["姓名"]],  # row 2
            [students[1]["证件号码"], students[1]["姓名"]],
            [students[2]["证件号码"], ""],
            [students[3]["证件号码"], students[3]["姓名"]],
            ["310104200001011234", "王不在"],  # row 6: not on the roster
            [students[0]["证件号码"], students[0]["姓名"]],  # row 7: a repeat of row 2
            [students[4]["证件号码"], "别人"],  # row 8: the name is not the roster's
        ]
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("desk:batch_upload"),
            {
                "school": school_1012.pk,
                "attested": "on",
                "file": SimpleUploadedFile("list.xlsx", content),
            },
        )
    from confirmations.models import BatchConfirmation

    batch = BatchConfirmation.objects.get()
    response = client.get(reverse("desk:batch_detail", args=[batch.pk]))
    html = response.content.decode()
    assert response.context["total"] == 7 == response.context["lines_total"]
    assert re.search(r"<span>所选人数[^<]*</span><b>7</b>", html)
    for student in students[:4]:  # the confirmed, by name
        assert f'<td class="name">{student["姓名"]}</td>' in html
    assert (
        '<td>6</td><td class="nowrap">310*****34</td><td>王不在</td>' in html
    )  # row, masked ID, typed name
    assert "<td>7</td>" in html and "<td>8</td>" in html


def test_id_list_template_formats_the_id_column_as_text(client, filer_1012):
    client.force_login(filer_1012)
    book = load_workbook(io.BytesIO(client.get(reverse("desk:batch_template")).content))
    sheet = book.active
    assert sheet.cell(row=1, column=1).value == "证件号码"
    assert all(sheet.cell(row=row, column=1).number_format == "@" for row in range(2, 50))


# --- one status definition, three ways of asking it ----------------------------------------------


def test_status_filter_and_progress_counts_agree_with_the_status_definition(
    failed_and_account_elsewhere, stored_1012, policy_year, city_admin
):
    """The status stored on each record by the pipeline, the definition (STATUS_Q on the
    annotated rows), the activation list's filter and the desk's columns classify every record
    alike (tests/test_stored_status.py checks the stored status after each kind of write)."""
    from confirmations import services
    from desk import selectors

    pending, created, failed = StudentRecord.objects.filter(school__code="1012").order_by("pk")[2:5]
    CoverageRecord.objects.create(id_number=failed.id_number, name=failed.name, kind="employee")
    for record in (pending, created, failed):
        application = services.application_submit(
            record=record,
            policy_year=policy_year,
            confirmed_by=city_admin,
            paper_pledge_attested=True,
        )
        if record != pending:
            services.account_create(application_id=application.pk)
    records = StudentRecord.objects.all()
    annotated = selectors.records_with_status(records)
    by_definition = {
        status: set(annotated.filter(selectors.STATUS_Q[status]).values_list("pk", flat=True))
        for status, _ in selectors.STATUS_CHOICES
    }
    occurring = {status for status, pks in by_definition.items() if pks}
    assert occurring == set(dict(selectors.STATUS_CHOICES)) - {selectors.STATUS_WAITING}
    stored = dict(records.values_list("pk", "activation_status"))
    for status, expected in by_definition.items():
        assert {pk for pk, value in stored.items() if value == status} == expected, status
        assert set(selectors.filter_by_status(records, status).values_list("pk", flat=True)) == (
            expected
        ), status
    progress = selectors.campus_progress(records)
    for status, column in selectors.PROGRESS_COLUMN.items():
        assert sum(row[column] for row in progress) == len(by_definition[status]), status
    assert sum(row["uploaded"] for row in progress) == records.count()
