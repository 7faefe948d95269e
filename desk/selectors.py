"""Staff reads: progress and lists, always within the user's filing scope.

Every function takes a queryset of records already limited by `records_visible_to(user)`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from confirmations.failures import failure_guide
from confirmations.models import Application, BatchConfirmation, PolicyYear
from confirmations.status import (  # noqa: F401  (the desk's names for the status definitions)
    LIVE_STATES,
    STATUS_ACTIVATED,
    STATUS_CHOICES,
    STATUS_ELSEWHERE,
    STATUS_FAILED,
    STATUS_PENDING,
    STATUS_Q,
    STATUS_UNCONFIRMED,
    STATUS_WAITING,
    latest_application,
    records_with_status_keys,
)
from enrollment.models import StudentRecord
from enrollment.selectors import records_search
from schools.models import Campus, School, User
from schools.scoping import campuses_visible_to


def records_with_status(records: QuerySet[StudentRecord]) -> QuerySet[StudentRecord]:
    """Annotate each record with its latest application (state, channel, failure, who, when,
    the waiting-period result and the account's day); with the state of the person's latest
    application for the year through another school's record, if any (shown as such, never its
    details); and with whether the person already has an account not made through this record.
    For the rows a page shows: lists filter and count on the stored `activation_status`.
    """
    latest = latest_application()
    return records_with_status_keys(records).annotate(
        app_pk=Subquery(latest.values("pk")[:1]),
        app_channel=Subquery(latest.values("channel")[:1]),
        app_reason=Subquery(latest.values("failure_reason")[:1]),
        app_failure_kind=Subquery(latest.values("failure_kind")[:1]),
        app_number=Subquery(latest.values("approval_number")[:1]),
        app_submitted_at=Subquery(latest.values("submitted_at")[:1]),
        app_confirmed_by=Subquery(latest.values("confirmed_by__last_name")[:1]),
        app_confirmed_by_login=Subquery(latest.values("confirmed_by__username")[:1]),
        app_waiting_until=Subquery(latest.values("waiting_until")[:1]),
        app_account_on=Subquery(latest.values("account_on")[:1]),
    )


def can_confirm_on_behalf(record: StudentRecord) -> bool:
    """Whether the activation list offers a record for confirming on the student's behalf:
    nothing live here or elsewhere, no account yet (a failure may be followed by a new one)."""
    return (
        record.app_state in (None, Application.State.FAILED)
        and record.elsewhere_state not in LIVE_STATES
        and not record.account_elsewhere
    )


def filter_by_status(records: QuerySet[StudentRecord], status: str) -> QuerySet[StudentRecord]:
    """The records whose status is `status`; all for an unknown one.

    Reads the status stored on the record (`confirmations.status`, kept by every write that
    can change it, indexed with campus and year in list order): a page or a count of one
    status reads the index, not the applications and accounts of every record in scope.
    """
    if status in STATUS_Q:
        return records.filter(activation_status=status)
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
        rows += [_campus_row(campus, dict.fromkeys(PROGRESS_COUNTS, 0)) for campus in empty]
        rows.sort(key=lambda row: row["campus__code"])
    return rows


def _progress_rows(records: QuerySet[StudentRecord]) -> list[dict]:
    """The counts of `campus_progress` for the campuses that have records, in one statement.

    Grouped by campus, by the status stored on the record (the activation list's filter, so the
    columns add up to the roster and agree with the list) and by the channel of the record's
    latest application (confirmed by the student or on their behalf). The latest applications
    are ranked in one pass and hash-joined to the scope, not looked up record by record.
    """
    scope_sql, scope_params = (
        records.order_by().values("pk", "campus_id", "activation_status").query.sql_with_params()
    )
    sql = f"""
        WITH scope (id, campus_id, status) AS MATERIALIZED ({scope_sql}),
        latest AS (
            SELECT record_id, channel FROM (
                SELECT a.record_id, a.channel,
                       ROW_NUMBER() OVER (
                           PARTITION BY a.record_id ORDER BY a.submitted_at DESC, a.id DESC
                       ) AS position
                FROM {Application._meta.db_table} a JOIN scope ON scope.id = a.record_id
            ) ranked
            WHERE position = 1
        )
        SELECT r.campus_id, r.status, l.channel, COUNT(*)
        FROM scope r LEFT JOIN latest l ON l.record_id = r.id
        GROUP BY 1, 2, 3
    """
    if connection.vendor != "postgresql":
        sql = sql.replace("AS MATERIALIZED (", "AS (")  # SQLite: the same, as a plain CTE
    with connection.cursor() as cursor:
        cursor.execute(sql, scope_params)
        groups = cursor.fetchall()
    totals: dict[int, dict[str, int]] = {}
    for campus_id, status, channel, count in groups:
        row = totals.setdefault(campus_id, dict.fromkeys(PROGRESS_COUNTS, 0))
        row["uploaded"] += count
        if channel == Application.Channel.SELF:
            row["confirmed_self"] += count
        elif channel == Application.Channel.ON_BEHALF:
            row["confirmed_on_behalf"] += count
        row[PROGRESS_COLUMN[status]] += count
    campuses = Campus.objects.filter(pk__in=totals).select_related("school", "district")
    return [_campus_row(campus, totals[campus.pk]) for campus in campuses]


# The desk's column of each status.
PROGRESS_COLUMN = {
    STATUS_ACTIVATED: "created",
    STATUS_WAITING: "waiting",
    STATUS_PENDING: "pending",
    STATUS_FAILED: "failed",
    STATUS_ELSEWHERE: "elsewhere",
    STATUS_UNCONFIRMED: "unconfirmed",
}


def _campus_row(campus: Campus, counts: dict[str, int]) -> dict:
    return {
        "campus_id": campus.pk,
        "school_id": campus.school_id,
        "campus__code": campus.code,
        "campus__name": campus.name,
        "school__code": campus.school.code,
        "school__name": campus.school.name,
        "campus__district__name": campus.district.name,
        **counts,
    }


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
    failed_records = records.filter(activation_status=STATUS_FAILED)
    latest = Subquery(latest_application().values("pk")[:1])
    return applications_in_scope(records).filter(
        pk__in=failed_records.annotate(app_pk=latest).values("app_pk")
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
