"""Confirmation writes: submitting an application (both channels) and creating its account."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL import Image, ImageChops, UnidentifiedImageError

from audit.services import Action, audit_record
from config.queueing import enqueue_on_commit, lost_work, requeue, waiting_messages
from confirmations import benefits, estimator, failures, selectors
from confirmations.gateway import AccountOutcome, account_gateway
from confirmations.models import (
    Application,
    BatchConfirmation,
    BenefitRule,
    PolicyYear,
    SignedPledge,
)
from confirmations.status import statuses_refresh, statuses_refresh_for_applications
from enrollment import rules
from enrollment.masking import mask_id_number
from enrollment.models import StudentRecord
from schools.models import User

logger = logging.getLogger(__name__)
MAX_SIGNATURE_BYTES = 600 * 1024
# A phone's signature pad is at most a few thousand pixels wide at its pixel ratio.
MAX_SIGNATURE_SIDE = 4000
_OVERSIZE_SIGNATURE = f"签名图片尺寸超过 {MAX_SIGNATURE_SIDE}×{MAX_SIGNATURE_SIDE} 像素的上限，请清除后在签名区域内重新签名"
MIN_INK_PIXELS = 60
# Ink is a pixel both opaque and dark: lookup tables for Image.point (a function there is called
# once per level, 512 Python calls per signature).
_OPAQUE = [255 if alpha > 128 else 0 for alpha in range(256)]
_DARK = [255 if grey < 160 else 0 for grey in range(256)]
TECHNICAL_FAILURE = "医保系统暂时无法建账（系统原因）"
CREATE_ACCOUNT = "confirmations.tasks.create_account"
WAITING_REQUEUE_AFTER = dt.timedelta(minutes=10)


class ConfirmationRefused(Exception):
    def __init__(self, message: str, *, application: Application | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.application = application


@dataclass(frozen=True)
class PledgeSignature:
    """What the student's browser sent with a hand-signed pledge."""

    png: bytes
    client_ip: str | None
    user_agent: str


def pledge_text(record: StudentRecord, policy_year: PolicyYear, *, on: dt.date) -> str:
    """The pledge as shown to the student: the policy year's text filled from the record."""
    values = {
        "name": record.name,
        "id_number": mask_id_number(record.id_number),
        "school": record.school.name,
        "college": record.college,
        "major": record.major,
        "student_number": record.student_number,
        "enrollment_year": policy_year.enrollment_year,
        "next_year": policy_year.next_year,
        "date": f"{on.year} 年 {on.month} 月 {on.day} 日",
        "city": policy_year.city.name,
    }
    return policy_year.pledge_text.format_map(_Blank(values))


class _Blank(dict):
    def __missing__(self, key: str) -> str:  # an unknown placeholder stays visible, not a crash
        return "{" + key + "}"


def signature_from_data_url(data_url: str) -> bytes:
    """Decode and check a canvas signature; refuse anything that is not a PNG with ink on it."""
    prefix = "data:image/png;base64,"
    if not data_url.startswith(prefix):
        raise ConfirmationRefused("请在签名区域内手写签名后再提交")
    try:
        png = base64.b64decode(data_url[len(prefix) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfirmationRefused("签名图片无法识别，请清除后重新签名") from exc
    if len(png) > MAX_SIGNATURE_BYTES:
        raise ConfirmationRefused("签名图片过大，请清除后重新签名")
    try:
        # Image.open reads the header only: the size is checked before any pixel is decoded,
        # and a size above Pillow's bomb limit is an error here, not a warning or a 500.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(png))
            if image.format != "PNG":
                raise ConfirmationRefused("签名图片无法识别，请清除后重新签名")
            if image.width > MAX_SIGNATURE_SIDE or image.height > MAX_SIGNATURE_SIDE:
                raise ConfirmationRefused(_OVERSIZE_SIGNATURE)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ConfirmationRefused(_OVERSIZE_SIGNATURE) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ConfirmationRefused("签名图片无法识别，请清除后重新签名") from exc
    rgba = image.convert("RGBA")
    opaque = rgba.getchannel("A").point(_OPAQUE)
    dark = rgba.convert("L").point(_DARK)
    # 255 where both are (the lesser of two 0-or-255 masks); counted in the bytes, which costs a
    # third of a 256-level histogram.
    ink = ImageChops.darker(opaque, dark).tobytes().count(255)
    if ink < MIN_INK_PIXELS:
        raise ConfirmationRefused("签名为空，请在签名区域内手写您的姓名")
    return png


@dataclass(frozen=True)
class _Submission:
    """One confirmation as asked for: what the checks before an application look at."""

    record: StudentRecord
    policy_year: PolicyYear
    today: dt.date
    on_behalf: bool
    paper_pledge_attested: bool
    signed: bool


def _channel_open(submission: _Submission) -> str | None:
    if not submission.policy_year.is_open(submission.today):
        return submission.policy_year.closed_message()
    return None


def _record_of_the_year(submission: _Submission) -> str | None:
    if submission.record.enrollment_year != submission.policy_year.enrollment_year:
        return "该记录不属于本年度新生名单"
    return None


def _willing(submission: _Submission) -> str | None:
    if submission.record.willingness != "1":
        return "院校名单中登记的参保意愿为“不参加”，请先联系院校更正"
    return None


def _eligible(submission: _Submission) -> str | None:
    record = submission.record
    return rules.ineligibility(record.id_type, record.id_number)


def _pledge_held(submission: _Submission) -> str | None:
    if submission.on_behalf and not submission.paper_pledge_attested:
        return "代确认前须确认已收到学生本人签字的纸质承诺书"
    if not submission.on_behalf and not submission.signed:
        return "请手写签名后再提交"
    return None


# Checked in order before any application is written; the first that answers refuses.
_SUBMISSION_CHECKS: tuple[Callable[[_Submission], str | None], ...] = (
    _channel_open,
    _record_of_the_year,
    _willing,
    _eligible,
    _pledge_held,
)


def application_submit(
    *,
    record: StudentRecord,
    policy_year: PolicyYear,
    signature: PledgeSignature | None = None,
    confirmed_by: User | None = None,
    paper_pledge_attested: bool = False,
    batch: BatchConfirmation | None = None,
    now: dt.datetime | None = None,
    refresh_status: bool = True,
) -> Application:
    """Confirm for one student: the application and its pledge in one transaction, with the
    stored status of the person's records.

    The student's own confirmation carries a hand signature; a confirmation on their behalf
    names who confirmed and that the signed paper pledge is held. The account is created by a
    worker once the transaction has committed. A batch passes `refresh_status=False` and
    refreshes its chunk's people in one go, in the chunk's transaction.
    """
    now = now or timezone.now()
    submission = _Submission(
        record=record,
        policy_year=policy_year,
        today=timezone.localdate(now),
        on_behalf=confirmed_by is not None,
        paper_pledge_attested=paper_pledge_attested,
        signed=signature is not None,
    )
    for check in _SUBMISSION_CHECKS:
        if message := check(submission):
            raise ConfirmationRefused(message)
    _refuse_when_applied(record.id_number, policy_year)
    try:
        with transaction.atomic():
            application = _application_create(
                submission, signature=signature, confirmed_by=confirmed_by, batch=batch, now=now
            )
            if refresh_status:
                statuses_refresh(id_numbers=[record.id_number])
    except IntegrityError as exc:
        # A simultaneous submission won the unique constraint; report it like any other.
        live = _live_application(record.id_number, policy_year)
        if live is None:
            raise
        raise ConfirmationRefused(_already_message(live), application=live) from exc
    logger.info("application %s submitted via %s", application.approval_number, application.channel)
    return application


def _refuse_when_applied(id_number: str, policy_year: PolicyYear) -> None:
    """One live application a person and year; after a failure, only when a new one can work."""
    # The person's applications this year in one query, as the student's pages see them.
    state = selectors.student_state(id_number, policy_year)
    if state.live is not None:
        raise ConfirmationRefused(_already_message(state.live), application=state.live)
    failed = state.latest_failed
    if failed is not None and not state.can_reapply:
        raise ConfirmationRefused(failures.refusal_message(failed), application=failed)


def _application_create(
    submission: _Submission,
    *,
    signature: PledgeSignature | None,
    confirmed_by: User | None,
    batch: BatchConfirmation | None,
    now: dt.datetime,
) -> Application:
    record, policy_year = submission.record, submission.policy_year
    application = Application.objects.create(
        policy_year=policy_year,
        record=record,
        id_number=record.id_number,
        name=record.name,
        channel=Application.Channel.ON_BEHALF if submission.on_behalf else Application.Channel.SELF,
        confirmed_by=confirmed_by,
        paper_pledge_attested=submission.paper_pledge_attested,
        batch=batch,
        submitted_at=now,
        last_queued_at=now,
    )
    if signature is not None:
        SignedPledge.objects.create(
            application=application,
            text=pledge_text(record, policy_year, on=submission.today),
            version=policy_year.pledge_version,
            signature_png=signature.png,
            signed_at=now,
            channel=application.channel,
            client_ip=signature.client_ip,
            user_agent=signature.user_agent[:500],
        )
    audit_record(
        action=Action.CONFIRM_ON_BEHALF if submission.on_behalf else Action.CONFIRM_SELF,
        actor=confirmed_by,
        record=record,
        target=f"application:{application.approval_number}",
        detail={"batch": str(batch.pk)} if batch is not None else {},
    )
    # A batch's thousands of accounts queue behind the students' own confirmations.
    enqueue_on_commit(CREATE_ACCOUNT, application.pk, bulk=batch is not None)
    return application


def _live_application(id_number: str, policy_year: PolicyYear) -> Application | None:
    return (
        Application.objects.filter(id_number=id_number, policy_year=policy_year)
        .exclude(state=Application.State.FAILED)
        .first()
    )


def _already_message(application: Application) -> str:
    if application.is_pending:
        return (
            "您已提交建账申请，不可重复提交，请耐心等待，可前往办件进度查看审核结果"
            f"（统一审批编号 {application.approval_number}）"
        )
    if application.is_waiting:
        return (
            f"本年度已参保确认，正处于待遇等待期（至 {application.waiting_until:%Y-%m-%d}），"
            f"{application.account_on:%Y-%m-%d} 建账，无需再次确认"
        )
    return "本年度已建立居民医保账户，无需再次确认"


def account_create(*, application_id: int, today: dt.date | None = None) -> Application | None:
    """Check a pending application and create its account — or, with a waiting period, record
    the period and create the account on its day (seed 03: the day after the period ends).

    Called by the worker for new applications and, on the account's day, for waiting ones
    (`waiting_accounts_queue_due`). Safe to run twice or concurrently. Raises
    GatewayUnavailable for technical failures so that the task retries.
    """
    today = today or timezone.localdate()
    # The claim, committed before the work: the sweeper tells a dead worker from a lost message.
    Application.objects.filter(pk=application_id, state=Application.State.PENDING).update(
        claimed_at=timezone.now()
    )
    with transaction.atomic():
        application = (
            Application.objects.select_for_update(of=("self",))
            .select_related("policy_year__city", "record")
            .filter(
                pk=application_id,
                state__in=[Application.State.PENDING, Application.State.WAITING],
            )
            .first()
        )
        if application is None or (application.is_waiting and application.account_on > today):
            return application
        gateway = account_gateway()
        if application.is_pending:
            checked = gateway.check(application)
            if checked.refused:
                _account_refused(application, checked)
            elif checked.gap_years:
                _waiting_period_start(application, checked, today=today)
            else:
                _benefits_set(application, waiting_months=0, today=today)
        if application.state != Application.State.FAILED and application.account_on <= today:
            created = gateway.create_account(application)
            if created.refused:
                _account_refused(application, created)
            else:
                application.state = Application.State.CREATED
                application.converted_from = created.converted_from
        application.processed_at = timezone.now()
        application.attempts += 1
        application.save()
        statuses_refresh(id_numbers={application.id_number, application.record.id_number})
    logger.info("application %s: %s", application.approval_number, application.state)
    return application


def _account_refused(application: Application, outcome: AccountOutcome) -> None:
    application.state = Application.State.FAILED
    application.failure_kind = outcome.failure_kind or Application.FailureKind.OTHER
    application.failure_reason = outcome.reason[:200]


def _waiting_period_start(
    application: Application, outcome: AccountOutcome, *, today: dt.date
) -> None:
    months = application.policy_year.waiting_rule.months(outcome.gap_years)
    application.state = Application.State.WAITING
    application.converted_from = outcome.converted_from
    _benefits_set(application, waiting_months=months, today=today)


def _benefits_set(application: Application, *, waiting_months: int, today: dt.date) -> None:
    year = application.policy_year
    period = benefits.benefit_period(
        enrollment_year=year.enrollment_year,
        registration_date=application.record.registration_date,
        confirmed_on=application.confirmed_on,
        checked_on=today,
        waiting_months=waiting_months,
        start_rule=year.city.benefit_start,
    )
    application.benefit_start = period.start
    application.benefit_end = period.end
    application.waiting_until = period.waiting_until
    application.account_on = period.account_on
    application.voucher_from = timezone.make_aware(period.voucher_from)


def waiting_accounts_queue_due(*, today: dt.date | None = None, limit: int = 5000) -> int:
    """Queue the account of every waiting application whose day has come (run by beat).

    Driven by the stored day, not a task countdown: a restart, a lost message or a broker
    outage only delays an account until the next run. Queued again while still waiting.
    """
    today = today or timezone.localdate()
    cutoff = timezone.now() - WAITING_REQUEUE_AFTER
    due = list(
        Application.objects.filter(
            state=Application.State.WAITING, account_on__lte=today, last_queued_at__lt=cutoff
        )
        .order_by("account_on")
        .values_list("pk", flat=True)[:limit]
    )
    # A refused publish ends this run; the next, a quarter of an hour later, tries again.
    queued = requeue(Application, ((CREATE_ACCOUNT, pk) for pk in due), bulk=True)
    if queued:
        logger.info("queued %s accounts whose waiting period has ended", queued)
    return queued


def account_fail_technically(*, application_id: int) -> None:
    """After the last retry: mark the application failed for a technical reason (retryable)."""
    with transaction.atomic():
        failed = Application.objects.filter(
            pk=application_id, state=Application.State.PENDING
        ).update(
            state=Application.State.FAILED,
            failure_kind=Application.FailureKind.TECHNICAL,
            failure_reason=TECHNICAL_FAILURE,
            processed_at=timezone.now(),
        )
        if failed:
            statuses_refresh_for_applications(
                applications=Application.objects.filter(pk=application_id)
            )


def applications_requeue_stale(*, older_than: dt.timedelta) -> int:
    """Queue again pending applications whose work was lost (`config.queueing.lost_work`: a
    worker that died after claiming one, or a message lost while the accounts queue is empty),
    queued `older_than` ago."""
    waiting = waiting_messages("accounts")
    if waiting is None:
        return 0  # the broker does not answer: nothing can be queued now
    lost = lost_work(cutoff=timezone.now() - older_than, queue_empty=waiting == 0)
    stale = list(
        Application.objects.filter(lost, state=Application.State.PENDING).values_list(
            "pk", flat=True
        )[:1000]
    )
    requeued = requeue(Application, ((CREATE_ACCOUNT, pk) for pk in stale))
    if requeued:
        logger.warning("re-queued %s pending applications", requeued)
    return requeued


@transaction.atomic
def benefit_table_set(*, policy_year: PolicyYear, table: estimator.BenefitTable) -> None:
    """Replace the year's benefit table (lines and serious-illness shares) with `table`."""
    policy_year.benefit_rules.all().delete()
    BenefitRule.objects.bulk_create(
        BenefitRule.from_rule(policy_year, rule) for rule in table.rules
    )
    policy_year.serious_illness_percent = table.serious_illness_share
    policy_year.serious_illness_low_income_percent = table.serious_illness_low_income_share
    policy_year.claim_months = table.claim_months
    policy_year.save(
        update_fields=[
            "serious_illness_percent",
            "serious_illness_low_income_percent",
            "claim_months",
        ]
    )
