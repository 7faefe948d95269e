"""Waiting-period students (seed 03 lines 115–123, 133–135, 213–235, 257): their own state,
the account on the day after the period, and what the student and the school see meanwhile."""

from __future__ import annotations

import datetime as dt
import io
from unittest import mock

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from confirmations import services
from confirmations.benefits import NATIONAL_WAITING_RULE
from confirmations.models import Application, CoverageRecord, InsuranceAccount
from desk import exports
from enrollment.models import StudentRecord
from health.readiness import readiness

pytestmark = pytest.mark.django_db


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, 0)))


@pytest.fixture
def record(stored_1012):
    return StudentRecord.objects.get(id_number=stored_1012[0]["证件号码"])


@pytest.fixture
def lapsed(record):
    """The registry says: not insured in the year before enrolling (one year without cover)."""
    return CoverageRecord.objects.create(
        id_number=record.id_number, name=record.name, kind="lapsed", gap_years=1
    )


@pytest.fixture
def september_10(year) -> dt.date:
    return dt.date(year, 9, 10)


def confirm_on_behalf(record, policy_year, user, when: dt.datetime) -> Application:
    with mock.patch("confirmations.tasks.create_account.apply_async"):
        return services.application_submit(
            record=record,
            policy_year=policy_year,
            confirmed_by=user,
            paper_pledge_attested=True,
            now=when,
        )


@pytest.fixture
def waiting(record, lapsed, policy_year, filer_1012, september_10) -> Application:
    """Confirmed on 10 September by the school, checked the same day: waiting."""
    application = confirm_on_behalf(record, policy_year, filer_1012, at(september_10))
    services.account_create(application_id=application.pk, today=september_10)
    application.refresh_from_db()
    return application


def test_waiting_period_student_is_its_own_state_not_an_account(waiting, year):
    assert waiting.state == Application.State.WAITING
    assert not InsuranceAccount.objects.exists()
    # Seed 03, one year without coverage: 3 months from the confirmation on 10 September.
    assert waiting.waiting_until == dt.date(year, 12, 9)
    assert waiting.account_on == dt.date(year, 12, 10)
    assert timezone.localtime(waiting.voucher_from) == at(dt.date(year, 12, 10), 9)
    assert (waiting.benefit_start, waiting.benefit_end) == (
        dt.date(year, 12, 11),
        dt.date(year, 12, 31),
    )


def test_national_rule_selected_for_the_year_waits_four_months(
    record, lapsed, policy_year, filer_1012, september_10, year
):
    policy_year.waiting_fixed_months = NATIONAL_WAITING_RULE.fixed_months
    policy_year.waiting_months_per_gap_year = NATIONAL_WAITING_RULE.months_per_gap_year
    policy_year.save()
    application = confirm_on_behalf(record, policy_year, filer_1012, at(september_10))
    services.account_create(application_id=application.pk, today=september_10)
    application.refresh_from_db()
    assert application.waiting_until == dt.date(year + 1, 1, 9)


def test_account_is_not_created_before_the_day_after_the_waiting_period(waiting, year):
    services.account_create(application_id=waiting.pk, today=dt.date(year, 12, 9))
    waiting.refresh_from_db()
    assert waiting.state == Application.State.WAITING
    assert not InsuranceAccount.objects.exists()


def test_account_is_created_the_day_after_the_waiting_period_keeping_its_dates(waiting, year):
    services.account_create(application_id=waiting.pk, today=dt.date(year, 12, 10))
    waiting.refresh_from_db()
    assert waiting.state == Application.State.CREATED
    assert InsuranceAccount.objects.get().id_number == waiting.id_number
    assert waiting.waiting_until == dt.date(year, 12, 9)
    assert waiting.benefit_start == dt.date(year, 12, 11)


def test_beat_queues_the_accounts_whose_day_has_come_and_no_others(waiting, year):
    with mock.patch("confirmations.tasks.create_account.apply_async") as publish:
        assert services.waiting_accounts_queue_due(today=dt.date(year, 12, 9)) == 0
        assert services.waiting_accounts_queue_due(today=dt.date(year, 12, 10)) == 1
    assert publish.call_args.args[0] == (waiting.pk,)


def test_beat_does_not_queue_the_same_account_twice_within_minutes(waiting, year):
    with mock.patch("confirmations.tasks.create_account.apply_async"):
        assert services.waiting_accounts_queue_due(today=dt.date(year, 12, 10)) == 1
        assert services.waiting_accounts_queue_due(today=dt.date(year, 12, 10)) == 0


def test_the_account_day_is_read_from_the_database_so_a_restart_loses_nothing(waiting, year):
    # No countdown was queued when the waiting period started: only the stored day decides.
    day = dt.date(year, 12, 10)
    with mock.patch("confirmations.services.timezone.localdate", return_value=day):
        from confirmations.tasks import open_due_accounts

        assert open_due_accounts.apply().get() == 1  # eager: the account task runs too
    waiting.refresh_from_db()
    assert waiting.state == Application.State.CREATED


def test_open_due_accounts_is_routed_and_scheduled_by_beat():
    assert settings.TASK_QUEUES["confirmations.tasks.open_due_accounts"] == "accounts"
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "confirmations.tasks.open_due_accounts" in scheduled


def test_waiting_application_blocks_a_second_confirmation_with_its_dates(
    waiting, record, policy_year, signature_png
):
    signature = services.PledgeSignature(png=signature_png, client_ip=None, user_agent="")
    with pytest.raises(services.ConfirmationRefused, match="待遇等待期"):
        services.application_submit(record=record, policy_year=policy_year, signature=signature)


def test_waiting_applications_are_neither_requeued_nor_late(waiting, filer_1012):
    from desk.selectors import late_applications
    from enrollment.selectors import records_visible_to

    assert services.applications_requeue_stale(older_than=dt.timedelta(0)) == 0
    assert not late_applications(records_visible_to(filer_1012)).exists()


def test_readyz_does_not_count_a_waiting_period_as_late_work(waiting, year):
    checks = readiness(now=at(dt.date(year, 12, 9), 23))["checks"]
    assert checks["queues"]["accounts"]["oldest_waiting_seconds"] is None


def test_readyz_counts_an_account_due_today_from_the_start_of_its_day(waiting, year):
    checks = readiness(now=at(dt.date(year, 12, 10), 2))["checks"]
    assert checks["queues"]["accounts"]["oldest_waiting_seconds"] == 2 * 3600
    assert not checks["queues"]["accounts"]["ok"]


# --- the student --------------------------------------------------------------------------------


@pytest.fixture
def sign_in(sign_in_student):
    return lambda client, row: sign_in_student(client, row["姓名"], row["证件号码"])


def test_waiting_student_pressing_start_sees_the_waiting_notice_with_its_end_date(
    client, waiting, stored_1012, sign_in, year
):
    sign_in(client, stored_1012[0])
    response = client.get(reverse("student:start"))
    assert response.url == reverse("student:result", args=[waiting.approval_number])
    html = client.get(response.url).content.decode()
    assert "待遇等待期" in html and f"{year}-12-09" in html
    assert f"{year}-12-10" in html and "建账成功" not in html
    assert f'{year}-12-11</span> 至 <span class="nowrap">{year}-12-31' in html
    assert f"{year}-12-10 09:00" in html  # the e-voucher: 09:00 the day after the period


def test_waiting_student_sees_the_period_in_the_applications_list(
    client, waiting, stored_1012, sign_in, year
):
    sign_in(client, stored_1012[0])
    html = client.get(reverse("student:applications")).content.decode()
    assert "待遇等待期" in html and f"{year}-12-10 建账" in html and "建账成功" not in html


def test_waiting_students_benefit_page_shows_the_account_day(
    client, waiting, stored_1012, sign_in, year
):
    sign_in(client, stored_1012[0])
    html = client.get(reverse("student:benefits")).content.decode()
    assert "建账日期" in html and f"{year}-12-10" in html


# --- the school, the day after an on-behalf confirmation ----------------------------------------


@pytest.fixture
def filer(client, filer_1012):
    client.force_login(filer_1012)
    return client


def test_activation_list_filters_waiting_students_and_shows_their_result(filer, waiting, year):
    response = filer.get(reverse("desk:activation"), {"status": "waiting"})
    assert response.context["page"].paginator.count == 1
    (record, cells), *_ = response.context["rows"]
    assert record.pk == waiting.record_id
    row = dict(zip(exports.ACTIVATION_HEADERS, cells, strict=True))
    assert row["是否激活"] == "否" and row["办理状态"] == "待遇等待期"
    assert row["待遇等待期核验结果"] == f"有待遇等待期，至 {year}-12-09"
    assert row["建账日期"] == f"{year}-12-10（期满次日）"
    assert (
        filer.get(reverse("desk:activation"), {"status": "activated"})
        .context["page"]
        .paginator.count
        == 0
    )


def test_activation_export_carries_the_waiting_period_result(filer, waiting, year):
    content = filer.get(reverse("desk:activation_export"), {"status": "waiting"}).getvalue()
    header, row = load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True)
    line = dict(zip(header, row, strict=True))
    assert line["待遇等待期核验结果"] == f"有待遇等待期，至 {year}-12-09"
    assert line["办理状态"] == "待遇等待期" and line["是否激活"] == "否"


def test_activation_list_says_no_waiting_period_for_an_account_created(
    filer, record, policy_year, filer_1012
):
    application = confirm_on_behalf(record, policy_year, filer_1012, timezone.now())
    services.account_create(application_id=application.pk)
    (_, cells), *_ = filer.get(reverse("desk:activation"), {"status": "activated"}).context["rows"]
    assert dict(zip(exports.ACTIVATION_HEADERS, cells, strict=True))["待遇等待期核验结果"] == (
        "无待遇等待期"
    )


def test_desk_counts_waiting_students_apart_from_activated_ones(filer, waiting):
    progress = filer.get(reverse("desk:desk")).context["progress"]
    campus = next(row for row in progress if row["campus__code"] == waiting.record.campus_code)
    assert (campus["waiting"], campus["created"]) == (1, 0)


def test_query_page_shows_the_waiting_period_and_the_account_day(filer, waiting, year):
    response = filer.post(reverse("desk:query"), {"q": waiting.record.student_number})
    html = filer.get(response.url).content.decode()
    assert "待遇等待期" in html and f"{year}-12-09" in html and f"{year}-12-10" in html


def test_reconciliation_workbook_counts_waiting_students(filer, waiting):
    content = filer.get(reverse("desk:reconciliation"), {"school": "1012"}).content
    header, *rows = load_workbook(io.BytesIO(content))["对账汇总"].iter_rows(values_only=True)
    column = header.index("待遇等待期")
    assert sum(row[column] for row in rows) == 1
