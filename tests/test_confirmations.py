"""Submitting confirmations and creating accounts: one pipeline, one live application a year."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from confirmations import services
from confirmations.gateway import EMPLOYEE_INSURANCE, NAME_MISMATCH, GatewayUnavailable
from confirmations.models import Application, CoverageRecord, InsuranceAccount, SignedPledge
from enrollment.models import StudentRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(stored_1012):
    return StudentRecord.objects.get(id_number=stored_1012[0]["证件号码"])


@pytest.fixture
def signature(signature_png):
    return services.PledgeSignature(png=signature_png, client_ip="10.1.2.3", user_agent="Phone/1.0")


def submit(record, policy_year, signature, capture, **kwargs):
    with capture(execute=True):
        return services.application_submit(
            record=record, policy_year=policy_year, signature=signature, **kwargs
        )


def test_submission_creates_pending_application_with_signed_pledge(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    with (
        mock.patch("confirmations.tasks.create_account.apply_async"),
        django_capture_on_commit_callbacks() as callbacks,
    ):
        application = services.application_submit(
            record=record, policy_year=policy_year, signature=signature
        )
    assert application.state == Application.State.PENDING
    assert len(application.approval_number) == 12
    pledge = application.pledge
    assert record.name in pledge.text and record.major in pledge.text
    assert record.id_number not in pledge.text  # shown masked, as on the phone
    assert str(policy_year.next_year) in pledge.text
    assert (pledge.client_ip, pledge.user_agent, pledge.version) == ("10.1.2.3", "Phone/1.0", 1)
    assert pledge.is_intact
    assert len(callbacks) == 1  # the account task is queued only after commit


def test_worker_creates_account_with_benefit_period(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    application = submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    application.refresh_from_db()
    assert application.state == Application.State.CREATED
    assert application.benefit_start == max(
        record.registration_date, dt.date(record.enrollment_year, 9, 1)
    )
    assert application.benefit_end == dt.date(record.enrollment_year, 12, 31)
    assert application.waiting_until is None
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    assert timezone.localtime(application.voucher_from).date() == tomorrow
    assert timezone.localtime(application.voucher_from).hour == 9
    assert InsuranceAccount.objects.get(id_number=record.id_number).name == record.name


def test_same_id_under_another_name_fails_with_the_seeds_reason(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    CoverageRecord.objects.create(id_number=record.id_number, name="张冠李", kind="city_resident")
    application = submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    application.refresh_from_db()
    assert (application.state, application.failure_reason) == (
        Application.State.FAILED,
        NAME_MISMATCH,
    )
    assert application.failure_kind == Application.FailureKind.NAME_MISMATCH
    assert not InsuranceAccount.objects.exists()


def test_city_resident_is_converted_to_student_status(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    CoverageRecord.objects.create(
        id_number=record.id_number, name=record.name, kind="city_resident"
    )
    application = submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    application.refresh_from_db()
    assert application.state == Application.State.CREATED
    assert application.converted_from == "本市居民医保"
    assert InsuranceAccount.objects.get().converted_from == "本市居民医保"


def test_employee_insurance_must_be_stopped_first(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    CoverageRecord.objects.create(id_number=record.id_number, name=record.name, kind="employee")
    application = submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    application.refresh_from_db()
    assert (application.state, application.failure_reason) == ("failed", EMPLOYEE_INSURANCE)


def test_lapsed_coverage_gets_the_policy_years_waiting_period_and_no_account_yet(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    CoverageRecord.objects.create(
        id_number=record.id_number, name=record.name, kind="lapsed", gap_years=2
    )
    application = submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    application.refresh_from_db()
    from confirmations.benefits import add_months

    assert application.state == Application.State.WAITING
    six_months = add_months(timezone.localdate(), 6)  # seed 03: 3 months a gap year
    assert application.waiting_until == six_months - dt.timedelta(days=1)
    assert application.account_on == six_months
    assert application.benefit_start == six_months + dt.timedelta(days=1)
    assert not InsuranceAccount.objects.exists()


def test_second_submission_is_refused_with_the_approval_number(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    with mock.patch("confirmations.tasks.create_account.apply_async"):
        first = submit(record, policy_year, signature, django_capture_on_commit_callbacks)
        with pytest.raises(services.ConfirmationRefused) as refused:
            submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    assert first.approval_number in refused.value.message
    assert Application.objects.count() == 1


def test_database_refuses_two_live_applications_for_one_person_and_year(record, policy_year):
    Application.objects.create(
        policy_year=policy_year,
        record=record,
        id_number=record.id_number,
        name=record.name,
        channel="self",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Application.objects.create(
            policy_year=policy_year,
            record=record,
            id_number=record.id_number,
            name=record.name,
            channel="self",
        )


def test_simultaneous_submission_losing_the_race_is_reported_not_crashed(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    winner = Application.objects.create(
        policy_year=policy_year,
        record=record,
        id_number=record.id_number,
        name=record.name,
        channel="self",
    )
    # The Python check ran before the winner committed: only the constraint stops the loser.
    with (
        mock.patch("confirmations.services._live_application", side_effect=[None, winner]),
        pytest.raises(services.ConfirmationRefused) as refused,
    ):
        submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    assert winner.approval_number in refused.value.message
    assert Application.objects.count() == 1


def test_name_mismatch_needs_the_record_corrected_before_a_new_application(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    CoverageRecord.objects.create(id_number=record.id_number, name="张冠李", kind="city_resident")
    submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    CoverageRecord.objects.all().delete()
    with pytest.raises(services.ConfirmationRefused, match="更正"):
        submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    record.save()  # the school corrects the record
    second = submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    second.refresh_from_db()
    assert second.state == Application.State.CREATED
    assert Application.objects.count() == 2


def test_channel_closes_on_the_day_the_payment_period_opens_as_seed_01_says_for_2023(
    record, policy_year, signature
):
    policy_year.closing_basis = policy_year.ClosingBasis.PAYMENT_PERIOD
    policy_year.closing_date = timezone.localdate()
    policy_year.save()
    with pytest.raises(services.ConfirmationRefused, match=r"集中参保缴费期已于 .* 开始"):
        services.application_submit(record=record, policy_year=policy_year, signature=signature)
    assert not Application.objects.exists()


def test_channel_stays_open_through_the_filing_deadline_as_seed_03_says_for_2025(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    policy_year.closing_basis = policy_year.ClosingBasis.FILING_DEADLINE
    policy_year.closing_date = timezone.localdate()
    policy_year.save()
    assert submit(record, policy_year, signature, django_capture_on_commit_callbacks)


def test_channel_closes_after_the_filing_deadline_with_the_seeds_words(
    record, policy_year, signature
):
    policy_year.closing_basis = policy_year.ClosingBasis.FILING_DEADLINE
    policy_year.closing_date = timezone.localdate() - dt.timedelta(days=1)
    policy_year.save()
    with pytest.raises(services.ConfirmationRefused, match="集中申报工作截止日"):
        services.application_submit(record=record, policy_year=policy_year, signature=signature)


def test_student_who_declined_cannot_confirm(record, policy_year, signature):
    record.willingness = "0"
    record.save()
    with pytest.raises(services.ConfirmationRefused, match="参保意愿"):
        services.application_submit(record=record, policy_year=policy_year, signature=signature)


def test_account_creation_is_idempotent(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    application = submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    assert services.account_create(application_id=application.pk) is None  # already done
    application.refresh_from_db()
    assert application.attempts == 1
    assert InsuranceAccount.objects.count() == 1


def test_gateway_outage_keeps_the_application_pending(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    with (
        mock.patch(
            "confirmations.gateway.BuiltinGateway.create_account", side_effect=GatewayUnavailable
        ),
        mock.patch("confirmations.tasks.create_account.retry", side_effect=RuntimeError("retry")),
        pytest.raises(RuntimeError, match="retry"),
    ):
        submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    assert Application.objects.get().state == Application.State.PENDING


def test_last_retry_marks_a_technical_failure(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    with mock.patch("confirmations.tasks.create_account.apply_async"):
        application = submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    services.account_fail_technically(application_id=application.pk)
    application.refresh_from_db()
    assert application.failure_kind == Application.FailureKind.TECHNICAL


def test_sweeper_requeues_applications_pending_too_long(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    with mock.patch("confirmations.tasks.create_account.apply_async"):
        application = submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    Application.objects.filter(pk=application.pk).update(
        last_queued_at=timezone.now() - dt.timedelta(minutes=10)
    )
    assert services.applications_requeue_stale(older_than=dt.timedelta(minutes=3)) == 1
    application.refresh_from_db()
    assert application.state == Application.State.CREATED  # eager worker ran it
    assert services.applications_requeue_stale(older_than=dt.timedelta(minutes=3)) == 0


def test_sweeper_leaves_recent_applications_alone(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    with mock.patch("confirmations.tasks.create_account.apply_async"):
        submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    assert services.applications_requeue_stale(older_than=dt.timedelta(minutes=3)) == 0


def test_signed_pledge_cannot_be_changed(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    application = submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    pledge = SignedPledge.objects.get(application=application)
    pledge.text = "另一段文字"
    with pytest.raises(ValueError):
        pledge.save()
    assert not pledge.is_intact  # a change made behind the model's back shows in the hash


def test_changing_the_pledge_text_keeps_signed_pledges(
    record, policy_year, signature, django_capture_on_commit_callbacks
):
    application = submit(record, policy_year, signature, django_capture_on_commit_callbacks)
    original = application.pledge.text
    policy_year.pledge_text = "新版承诺书 {name}"
    policy_year.save()
    policy_year.refresh_from_db()
    assert policy_year.pledge_version == 2
    application.pledge.refresh_from_db()
    assert application.pledge.text == original and application.pledge.version == 1


def test_empty_signature_is_refused():
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGBA", (600, 180), (0, 0, 0, 0)).save(buffer, format="PNG")
    empty = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    with pytest.raises(services.ConfirmationRefused, match="签名为空"):
        services.signature_from_data_url(empty)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "data:image/jpeg;base64,AAAA",
        "data:image/png;base64,!!!",
        "data:image/png;base64,aGVsbG8=",
    ],
)
def test_signature_that_is_not_a_png_is_refused(value):
    with pytest.raises(services.ConfirmationRefused):
        services.signature_from_data_url(value)


def test_signature_with_ink_is_accepted(signature_data_url, signature_png):
    assert services.signature_from_data_url(signature_data_url) == signature_png


def strokes(count: int, colour: tuple[int, int, int, int]) -> str:
    """A 600 x 180 canvas with `count` pixels of `colour` on a transparent background."""
    import base64
    import io

    from PIL import Image

    image = Image.new("RGBA", (600, 180), (0, 0, 0, 0))
    for x in range(count):
        image.putpixel((x, 90), colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    "colour, count, ink",
    [
        ((159, 159, 159, 129), services.MIN_INK_PIXELS, True),  # dark enough, opaque enough
        ((159, 159, 159, 129), services.MIN_INK_PIXELS - 1, False),  # too few pixels
        ((160, 160, 160, 255), services.MIN_INK_PIXELS, False),  # too light
        ((0, 0, 0, 128), services.MIN_INK_PIXELS, False),  # too transparent
    ],
)
def test_ink_is_enough_pixels_both_dark_and_opaque(colour, count, ink):
    signature = strokes(count, colour)
    if ink:
        assert services.signature_from_data_url(signature)
    else:
        with pytest.raises(services.ConfirmationRefused, match="签名为空"):
            services.signature_from_data_url(signature)
