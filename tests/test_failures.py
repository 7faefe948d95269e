"""Failed applications (seed 01, 立即办理 routing; seed 03 Q2): the result page with the real
reason and next step per kind, a new application only when it can succeed, and the same next
step on the desk and in the reconciliation workbook."""

from __future__ import annotations

import io
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from confirmations import failures, services
from confirmations.gateway import GatewayUnavailable
from confirmations.models import Application, CoverageRecord
from desk import exports
from enrollment.models import StudentRecord

pytestmark = pytest.mark.django_db
Kind = Application.FailureKind


@pytest.fixture
def student(stored_1012, policy_year):
    return stored_1012[0]


@pytest.fixture
def record(student):
    return StudentRecord.objects.get(id_number=student["证件号码"])


@pytest.fixture
def sign_in(sign_in_student):
    return lambda client, row: sign_in_student(client, row["姓名"], row["证件号码"])


def submit(record, policy_year, signature_png, *, worker=services.account_create) -> Application:
    """The student confirms; the worker then creates the account (or gives up: technical)."""
    signature = services.PledgeSignature(png=signature_png, client_ip=None, user_agent="")
    with mock.patch("confirmations.tasks.create_account.apply_async"):
        application = services.application_submit(
            record=record, policy_year=policy_year, signature=signature
        )
    worker(application_id=application.pk)
    application.refresh_from_db()
    return application


def fail_technically(record, policy_year, signature_png) -> Application:
    return submit(record, policy_year, signature_png, worker=services.account_fail_technically)


@pytest.fixture
def employee(record):
    return CoverageRecord.objects.create(
        id_number=record.id_number, name=record.name, kind="employee"
    )


@pytest.fixture
def name_mismatch(record):
    return CoverageRecord.objects.create(
        id_number=record.id_number, name="张冠李", kind="city_resident"
    )


# --- the rule ------------------------------------------------------------------------------------


def test_every_failure_kind_has_a_reason_a_student_step_and_a_staff_step():
    for kind in Kind:
        guide = failures.failure_guide(kind)
        assert guide.label and guide.student_step and guide.staff_step


def test_gateway_failures_carry_their_kind(record, policy_year, signature_png, employee):
    assert submit(record, policy_year, signature_png).failure_kind == Kind.EMPLOYEE_INSURANCE


def test_technical_failure_never_offers_a_new_application(record, policy_year, signature_png):
    failed = fail_technically(record, policy_year, signature_png)
    assert failed.failure_kind == Kind.TECHNICAL
    assert not failures.reapply_allowed(failed)
    with pytest.raises(services.ConfirmationRefused, match="无需重新确认"):
        submit(record, policy_year, signature_png)


def test_name_mismatch_offers_a_new_application_only_after_the_school_saved_the_record(
    record, policy_year, signature_png, name_mismatch
):
    failed = submit(record, policy_year, signature_png)
    assert failed.failure_kind == Kind.NAME_MISMATCH
    assert not failures.reapply_allowed(failed)
    record.save()
    failed.refresh_from_db()
    assert failures.reapply_allowed(failed)


def test_employee_insurance_offers_a_new_application_once_stopped(
    record, policy_year, signature_png, employee
):
    failed = submit(record, policy_year, signature_png)
    assert failures.reapply_allowed(failed)
    assert failures.failure_guide(failed.failure_kind).reapply is failures.Reapply.AFTER_STOPPING


# --- the student's result page -----------------------------------------------------------------


def test_start_routes_a_failed_student_to_the_result_page_not_a_new_flow(
    client, student, record, policy_year, signature_png, sign_in, employee
):
    failed = submit(record, policy_year, signature_png)
    sign_in(client, student)
    assert client.get(reverse("student:start")).url == reverse(
        "student:result", args=[failed.approval_number]
    )


def test_technical_failure_result_page_says_it_is_retried_and_offers_no_new_application(
    client, student, record, policy_year, signature_png, sign_in
):
    failed = fail_technically(record, policy_year, signature_png)
    sign_in(client, student)
    assert client.get(reverse("student:start")).url.endswith(f"/{failed.approval_number}/")
    html = client.get(reverse("student:result", args=[failed.approval_number])).content.decode()
    assert "区医保中心会为您重新提交" in html and "无需重新申请" in html
    assert "重新申请</a>" not in html and "院校已" not in html
    # Asking for the flow again is routed to the result page too.
    assert client.get(reverse("student:start") + "?again=1").url.endswith(
        f"/{failed.approval_number}/"
    )


def test_employee_insurance_result_page_says_stop_it_then_apply_again(
    client, student, record, policy_year, signature_png, sign_in, employee
):
    failed = submit(record, policy_year, signature_png)
    sign_in(client, student)
    html = client.get(reverse("student:result", args=[failed.approval_number])).content.decode()
    assert "已参加职工基本医疗保险" in html
    assert "请先联系参保地医保部门停止职工医保待遇" in html
    assert "已停止职工医保待遇的，可以重新申请" in html and "?again=1" in html
    assert "院校已" not in html  # nothing was corrected


def test_name_mismatch_result_page_asks_the_school_to_correct_and_offers_nothing_yet(
    client, student, record, policy_year, signature_png, sign_in, name_mismatch
):
    failed = submit(record, policy_year, signature_png)
    sign_in(client, student)
    html = client.get(reverse("student:result", args=[failed.approval_number])).content.decode()
    assert "相同证件号存在其他医保账户但姓名不同" in html
    assert "请联系院校医保经办老师核对名单中的姓名" in html
    assert "?again=1" not in html
    record.save()  # the school corrects the record
    html = client.get(reverse("student:result", args=[failed.approval_number])).content.decode()
    assert "更新了您在名单中的信息，可以重新申请" in html and "?again=1" in html


# --- the desk and the workbook -------------------------------------------------------------------


@pytest.fixture
def filer(client, filer_1012):
    client.force_login(filer_1012)
    return client


def test_desk_names_the_same_next_step_as_the_student_guide(
    filer, record, policy_year, signature_png, employee
):
    submit(record, policy_year, signature_png)
    html = filer.get(reverse("desk:desk")).content.decode()
    assert failures.GUIDES[Kind.EMPLOYEE_INSURANCE].staff_step in html


def test_a_student_appears_once_in_the_failure_list_with_the_latest_application(
    filer, record, policy_year, signature_png, name_mismatch
):
    first = submit(record, policy_year, signature_png)
    record.save()  # corrected, but the other account's name still differs
    second = submit(record, policy_year, signature_png)
    assert second.state == Application.State.FAILED and first.pk != second.pk
    failed = filer.get(reverse("desk:desk")).context["failed"]
    assert [application.pk for application, _ in failed] == [second.pk]


def test_a_failure_followed_by_a_live_application_leaves_the_failure_list(
    filer, record, policy_year, signature_png, employee
):
    submit(record, policy_year, signature_png)
    employee.delete()  # stopped
    assert submit(record, policy_year, signature_png).state == Application.State.CREATED
    assert filer.get(reverse("desk:desk")).context["failed"] == []


def test_reconciliation_workbook_names_the_next_step_once_per_student(
    filer, record, policy_year, signature_png, name_mismatch
):
    submit(record, policy_year, signature_png)
    record.save()
    submit(record, policy_year, signature_png)
    content = filer.get(reverse("desk:reconciliation"), {"school": "1012"}).content
    header, *rows = load_workbook(io.BytesIO(content))["建账失败明细"].iter_rows(values_only=True)
    assert list(header) == exports.FAILURE_HEADERS
    assert len(rows) == 1
    line = dict(zip(header, rows[0], strict=True))
    assert line["失败类型"] == "姓名不一致"
    assert line["下一步"] == failures.GUIDES[Kind.NAME_MISMATCH].staff_step


def test_gateway_outage_at_the_check_keeps_the_application_pending(
    record, policy_year, signature_png
):
    signature = services.PledgeSignature(png=signature_png, client_ip=None, user_agent="")
    with mock.patch("confirmations.tasks.create_account.apply_async"):
        application = services.application_submit(
            record=record, policy_year=policy_year, signature=signature
        )
    with (
        mock.patch("confirmations.gateway.BuiltinGateway.check", side_effect=GatewayUnavailable),
        pytest.raises(GatewayUnavailable),
    ):
        services.account_create(application_id=application.pk, today=timezone.localdate())
    application.refresh_from_db()
    assert application.state == Application.State.PENDING
