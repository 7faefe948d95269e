"""Staff reads: progress and lists, always within the user's filing scope.

Every function takes a queryset of records already limited by `records_visible_to(user)`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from confirmations.models import Application, BatchConfirmation, PolicyYear
from enrollment.models import StudentRecord
from schools.models import User
from schools.scoping import campuses_visible_to

STATUS_ACTIVATED = "activated"
STATUS_WAITING = "waiting"
STATUS_PENDING = "pending"
STATUS_FAILED = "failed"
STATUS_ELSEWHERE = "elsewhere"
STATUS_UNCONFIRMED = "unconfirmed"
STATUS_CHOICES = [
    (STATUS_ACTIVATED, "已激活（建账成功）"),
    (STATUS_WAITING, "待遇等待期（期满次日建账）"),
    (STATUS_PENDING, "待建账"),
    (STATUS_FAILED, "建账失败"),
    (STATUS_ELSEWHERE, "已通过其他院校办理"),
    (STATUS_UNCONFIRMED, "未确认"),
]
_STATE_OF_STATUS = {
    STATUS_ACTIVATED: Application.State.CREATED,
    STATUS_WAITING: Application.State.WAITING,
    STATUS_PENDING: Application.State.PENDING,
    STATUS_FAILED: Application.State.FAILED,
}
_LIVE = [Application.State.PENDING, Application.State.WAITING, Application.State.CREATED]


def records_with_status(records: QuerySet[StudentRecord]) -> QuerySet[StudentRecord]:
    """Annotate each record with its latest application (state, channel, failure, who, when,
    the waiting-period result and the account's day), and with the state of the person's live
    application through another school's record, if any (shown as such, never its details)."""
    latest = Application.objects.filter(record=OuterRef("pk")).order_by("-submitted_at")
    elsewhere = (
        Application.objects.filter(
            id_number=OuterRef("id_number"),
            policy_year__enrollment_year=OuterRef("enrollment_year"),
            state__in=_LIVE,
        )
        .exclude(record=OuterRef("pk"))
        .order_by("-submitted_at")
    )
    return records.annotate(
        app_state=Subquery(latest.values("state")[:1]),
        app_channel=Subquery(latest.values("channel")[:1]),
        app_reason=Subquery(latest.values("failure_reason")[:1]),
        app_failure_kind=Subquery(latest.values("failure_kind")[:1]),
        app_number=Subquery(latest.values("approval_number")[:1]),
        app_submitted_at=Subquery(latest.values("submitted_at")[:1]),
        app_confirmed_by=Subquery(latest.values("confirmed_by__last_name")[:1]),
        app_confirmed_by_login=Subquery(latest.values("confirmed_by__username")[:1]),
        app_waiting_until=Subquery(latest.values("waiting_until")[:1]),
        app_account_on=Subquery(latest.values("account_on")[:1]),
        elsewhere_state=Subquery(elsewhere.values("state")[:1]),
    )


def filter_by_status(records: QuerySet[StudentRecord], status: str) -> QuerySet[StudentRecord]:
    if status == STATUS_UNCONFIRMED:
        return records.filter(app_state__isnull=True, elsewhere_state__isnull=True)
    if status == STATUS_ELSEWHERE:
        return records.filter(app_state__isnull=True, elsewhere_state__isnull=False)
    if status in _STATE_OF_STATUS:
        return records.filter(app_state=_STATE_OF_STATUS[status])
    return records


def campus_progress(records: QuerySet[StudentRecord]) -> list[dict]:
    """Per campus: on the roster, confirmed (self / on behalf), created, waiting, pending,
    failed, done through another school, not confirmed."""
    annotated = records_with_status(records)
    rows = (
        annotated.order_by()
        .values(
            "campus_id",
            "school_id",
            "campus__code",
            "campus__name",
            "school__code",
            "school__name",
            "campus__district__name",
        )
        .annotate(
            uploaded=Count("pk"),
            confirmed_self=Count("pk", filter=Q(app_channel=Application.Channel.SELF)),
            confirmed_on_behalf=Count("pk", filter=Q(app_channel=Application.Channel.ON_BEHALF)),
            created=Count("pk", filter=Q(app_state=Application.State.CREATED)),
            waiting=Count("pk", filter=Q(app_state=Application.State.WAITING)),
            pending=Count("pk", filter=Q(app_state=Application.State.PENDING)),
            failed=Count("pk", filter=Q(app_state=Application.State.FAILED)),
            elsewhere=Count("pk", filter=Q(app_state__isnull=True, elsewhere_state__isnull=False)),
            unconfirmed=Count("pk", filter=Q(app_state__isnull=True, elsewhere_state__isnull=True)),
        )
        .order_by("campus__code")
    )
    return list(rows)


def applications_in_scope(records: QuerySet[StudentRecord]) -> QuerySet[Application]:
    return Application.objects.filter(record__in=records).select_related(
        "record__school", "confirmed_by", "policy_year"
    )


def latest_failures(records: QuerySet[StudentRecord]) -> QuerySet[Application]:
    """Failed applications in scope that are their person's latest for the year: a student
    appears once, with the failure that still stands (none once a later one is live)."""
    latest = (
        Application.objects.filter(
            id_number=OuterRef("id_number"), policy_year=OuterRef("policy_year")
        )
        .order_by("-submitted_at", "-pk")
        .values("pk")[:1]
    )
    return (
        applications_in_scope(records)
        .filter(state=Application.State.FAILED)
        .annotate(latest_pk=Subquery(latest))
        .filter(pk=F("latest_pk"))
    )


def late_applications(records: QuerySet[StudentRecord], *, now=None) -> QuerySet[Application]:
    """Pending longer than their policy year promises (30 minutes in Shanghai)."""
    now = now or timezone.now()
    overdue = Q(pk__in=[])
    for year in PolicyYear.objects.all():
        cutoff = now - dt.timedelta(minutes=year.promised_minutes)
        # From when it was last queued: a retried application is late for the retry's promise.
        overdue |= Q(policy_year=year, last_queued_at__lt=cutoff)
    return (
        applications_in_scope(records)
        .filter(overdue, state=Application.State.PENDING)
        .order_by("last_queued_at")
    )


def batches_visible_to(user: User) -> QuerySet[BatchConfirmation]:
    """A user's own batch confirmations (each page also checks `batch_in_scope`)."""
    return BatchConfirmation.objects.filter(created_by=user)


def batch_in_scope(user: User, batch: BatchConfirmation) -> bool:
    """Whether every student of the batch is still in the user's scope, by the user's
    designations as they are now: a filer who lost a campus loses its batch pages too."""
    if user.is_city_admin:
        return True
    outside = StudentRecord.objects.filter(pk__in=batch.record_ids).exclude(
        campus__in=campuses_visible_to(user)
    )
    return not outside.exists()


@dataclass(frozen=True)
class BatchLine:
    key: str
    label: str
    count: int
    tone: str = ""  # "good" or "bad": how the page shows it


BATCH_LINES = (
    ("confirmed", "已代确认", "good"),
    ("already_pending", "已在建账中", ""),
    ("already_waiting", "处于待遇等待期", ""),
    ("already_created", "已建账", ""),
    ("refused", "未能确认", "bad"),
    ("not_found", "记录已删除", "bad"),
    ("skipped", "名单中未代确认的行", "bad"),
)


def batch_summary(batch: BatchConfirmation) -> tuple[int, list[BatchLine]]:
    """What a finished batch did, line by line, and the total the lines add up to: the rows of
    the uploaded list, or the records selected."""
    counts = batch.results.get("counts", {})
    lines = [
        BatchLine(key, label, counts.get(key, 0), tone)
        for key, label, tone in BATCH_LINES
        if counts.get(key, 0) or key == "confirmed"
    ]
    total = batch.results.get("file_rows") or batch.total
    return total, lines
