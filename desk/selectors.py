"""Staff reads: progress and lists, always within the user's filing scope.

Every function takes a queryset of records already limited by `records_visible_to(user)`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from confirmations.failures import failure_guide
from confirmations.models import Application, BatchConfirmation, InsuranceAccount, PolicyYear
from enrollment.models import StudentRecord
from enrollment.selectors import records_search
from schools.models import Campus, School, User
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
_LIVE = [Application.State.PENDING, Application.State.WAITING, Application.State.CREATED]


def records_with_status(records: QuerySet[StudentRecord]) -> QuerySet[StudentRecord]:
    """Annotate each record with its latest application (state, channel, failure, who, when,
    the waiting-period result and the account's day); with the state of the person's latest
    application for the year through another school's record, if any (shown as such, never its
    details); and with whether the person already has an account not made through this record.
    """
    latest = Application.objects.filter(record=OuterRef("pk")).order_by("-submitted_at", "-pk")
    elsewhere = (
        Application.objects.filter(
            id_number=OuterRef("id_number"),
            policy_year__enrollment_year=OuterRef("enrollment_year"),
        )
        .exclude(record=OuterRef("pk"))
        .order_by("-submitted_at", "-pk")
    )
    account_elsewhere = InsuranceAccount.objects.filter(id_number=OuterRef("id_number")).exclude(
        application__record=OuterRef("pk")
    )
    return records.annotate(
        app_pk=Subquery(latest.values("pk")[:1]),
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
        account_elsewhere=Exists(account_elsewhere),
    )


# One status per record, the same for the desk's columns, the activation list's filter, the
# failure list and the reminders: the columns add up to the roster.
_LIVE_ELSEWHERE = Q(elsewhere_state__in=_LIVE)
_NOT_LIVE_ELSEWHERE = Q(elsewhere_state__isnull=True) | Q(elsewhere_state=Application.State.FAILED)
STATUS_Q = {
    # Nothing anywhere: no application for the year through any school, and no account.
    STATUS_UNCONFIRMED: Q(
        app_state__isnull=True, elsewhere_state__isnull=True, account_elsewhere=False
    ),
    # Done (or tried and failed) through another school, or an account already there; a
    # failure here that a later application elsewhere superseded counts there too.
    STATUS_ELSEWHERE: (
        Q(app_state__isnull=True) & (Q(elsewhere_state__isnull=False) | Q(account_elsewhere=True))
    )
    | (Q(app_state=Application.State.FAILED) & _LIVE_ELSEWHERE),
    STATUS_FAILED: Q(app_state=Application.State.FAILED) & _NOT_LIVE_ELSEWHERE,
    STATUS_ACTIVATED: Q(app_state=Application.State.CREATED),
    STATUS_WAITING: Q(app_state=Application.State.WAITING),
    STATUS_PENDING: Q(app_state=Application.State.PENDING),
}


def can_confirm_on_behalf(record: StudentRecord) -> bool:
    """Whether the activation list offers a record for confirming on the student's behalf:
    nothing live here or elsewhere, no account yet (a failure may be followed by a new one)."""
    return (
        record.app_state in (None, Application.State.FAILED)
        and record.elsewhere_state not in _LIVE
        and not record.account_elsewhere
    )


def filter_by_status(records: QuerySet[StudentRecord], status: str) -> QuerySet[StudentRecord]:
    """Records (annotated by `records_with_status`) of one status; all for an unknown one."""
    if status in STATUS_Q:
        return records.filter(STATUS_Q[status])
    return records


PROGRESS_COUNTS = (
    "uploaded",
    "confirmed_self",
    "confirmed_on_behalf",
    "created",
    "waiting",
    "pending",
    "failed",
    "elsewhere",
    "unconfirmed",
)


def campus_progress(
    records: QuerySet[StudentRecord], campuses: QuerySet[Campus] | None = None
) -> list[dict]:
    """Per campus: on the roster, confirmed (self / on behalf), created, waiting, pending,
    failed, done through another school, not confirmed.

    Given `campuses` (the user's), a campus of an active school with nothing uploaded yet gets
    a row of zeros: that is who needs chasing.
    """
    rows = _progress_rows(records)
    if campuses is not None:
        seen = {row["campus_id"] for row in rows}
        empty = (
            campuses.exclude(pk__in=seen)
            .filter(school__status=School.Status.ACTIVE)
            .select_related("school", "district")
        )
        rows += [
            {
                "campus_id": campus.pk,
                "school_id": campus.school_id,
                "campus__code": campus.code,
                "campus__name": campus.name,
                "school__code": campus.school.code,
                "school__name": campus.school.name,
                "campus__district__name": campus.district.name,
                **dict.fromkeys(PROGRESS_COUNTS, 0),
            }
            for campus in empty
        ]
        rows.sort(key=lambda row: row["campus__code"])
    return rows


def _progress_rows(records: QuerySet[StudentRecord]) -> list[dict]:
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
            created=Count("pk", filter=STATUS_Q[STATUS_ACTIVATED]),
            waiting=Count("pk", filter=STATUS_Q[STATUS_WAITING]),
            pending=Count("pk", filter=STATUS_Q[STATUS_PENDING]),
            failed=Count("pk", filter=STATUS_Q[STATUS_FAILED]),
            elsewhere=Count("pk", filter=STATUS_Q[STATUS_ELSEWHERE]),
            unconfirmed=Count("pk", filter=STATUS_Q[STATUS_UNCONFIRMED]),
        )
        .order_by("campus__code")
    )
    return list(rows)


def daily_activity(
    records: QuerySet[StudentRecord], *, first: dt.date, last: dt.date
) -> dict[int, tuple[dict[dt.date, int], dict[dt.date, int]]]:
    """Per school: confirmations (applications submitted) per day, and accounts created per day
    (by the account's day), from `first` to `last`, for the records in scope."""
    activity: dict[int, tuple[dict, dict]] = {}
    submitted = (
        Application.objects.filter(record__in=records, submitted_at__date__range=(first, last))
        .annotate(day=TruncDate("submitted_at"))
        .order_by()
        .values("record__school_id", "day")
        .annotate(n=Count("pk"))
    )
    for row in submitted:
        activity.setdefault(row["record__school_id"], ({}, {}))[0][row["day"]] = row["n"]
    created = (
        Application.objects.filter(
            record__in=records,
            state=Application.State.CREATED,
            account_on__range=(first, last),
        )
        .order_by()
        .values("record__school_id", "account_on")
        .annotate(n=Count("pk"))
    )
    for row in created:
        activity.setdefault(row["record__school_id"], ({}, {}))[1][row["account_on"]] = row["n"]
    return activity


def applications_in_scope(records: QuerySet[StudentRecord]) -> QuerySet[Application]:
    return Application.objects.filter(record__in=records).select_related(
        "record__school", "confirmed_by", "policy_year"
    )


def latest_failures(records: QuerySet[StudentRecord]) -> QuerySet[Application]:
    """The failures that still stand, one per record: the latest application of each record
    the desk counts as 建账失败 (none once a later application is live, here or elsewhere). The
    list and the campus table's column count the same records."""
    failed_records = filter_by_status(records_with_status(records), STATUS_FAILED)
    return applications_in_scope(records).filter(pk__in=failed_records.values("app_pk"))


def late_applications(records: QuerySet[StudentRecord], *, now=None) -> QuerySet[Application]:
    """Pending longer than their policy year promises (30 minutes in Shanghai)."""
    now = now or timezone.now()
    overdue = Q(pk__in=[])
    for year in PolicyYear.objects.all():
        cutoff = now - dt.timedelta(minutes=year.promised_minutes)
        overdue |= Q(policy_year=year, submitted_at__lt=cutoff)
    return (
        applications_in_scope(records)
        .filter(overdue, state=Application.State.PENDING)
        .order_by("submitted_at")
    )


def query_results(records: QuerySet[StudentRecord], text: str, *, limit: int) -> list[dict]:
    """The query page's answer: each matching record (of `records`, the user's scope) with its
    applications (newest first, each with its failure's next step) and its account."""
    results = []
    for record in records_search(records, text).select_related("school", "campus")[:limit]:
        applications = list(
            record.applications.select_related("confirmed_by", "policy_year", "account").order_by(
                "-submitted_at"
            )
        )
        for application in applications:
            application.failure_guide = failure_guide(application.failure_kind)
        account = next((a.account for a in applications if hasattr(a, "account")), None)
        results.append({"record": record, "applications": applications, "account": account})
    return results


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
