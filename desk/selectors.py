"""Staff reads: progress and lists, always within the user's filing scope.

Every function takes a queryset of records already limited by `records_visible_to(user)`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
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
    """The records whose status (as `records_with_status` and STATUS_Q show it) is `status`;
    all for an unknown one.

    The same definitions as STATUS_Q, written as EXISTS / NOT EXISTS on the bare records: a list
    page or a count then needs none of the status annotations, and PostgreSQL joins the
    applications once (hash semi- and anti-joins) instead of running the "latest application"
    subqueries for every record before it can count or skip to page 500. At most one live
    application per person and year, so "the latest elsewhere is live" is "one elsewhere is live".
    """
    own = Exists(Application.objects.filter(record=OuterRef("pk")))
    elsewhere = Application.objects.filter(
        id_number=OuterRef("id_number"),
        policy_year__enrollment_year=OuterRef("enrollment_year"),
    ).exclude(record=OuterRef("pk"))
    any_elsewhere = Exists(elsewhere)
    live_elsewhere = Exists(elsewhere.filter(state__in=_LIVE))
    account_elsewhere = Exists(
        InsuranceAccount.objects.filter(id_number=OuterRef("id_number")).exclude(
            application__record=OuterRef("pk")
        )
    )

    def latest_is(state: str) -> Exists:
        later = Application.objects.filter(record=OuterRef("record")).filter(
            Q(submitted_at__gt=OuterRef("submitted_at"))
            | Q(submitted_at=OuterRef("submitted_at"), pk__gt=OuterRef("pk"))
        )
        return Exists(
            Application.objects.filter(~Exists(later), record=OuterRef("pk"), state=state)
        )

    failed = latest_is(Application.State.FAILED)
    if status == STATUS_UNCONFIRMED:
        return records.filter(~own & ~any_elsewhere & ~account_elsewhere)
    if status == STATUS_ELSEWHERE:
        return records.filter(
            (~own & (any_elsewhere | account_elsewhere)) | (failed & live_elsewhere)
        )
    if status == STATUS_FAILED:
        return records.filter(failed & ~live_elsewhere)
    if status in _STATE_OF_STATUS:
        return records.filter(latest_is(_STATE_OF_STATUS[status]))
    return records


_STATE_OF_STATUS = {
    STATUS_ACTIVATED: Application.State.CREATED,
    STATUS_WAITING: Application.State.WAITING,
    STATUS_PENDING: Application.State.PENDING,
}


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

    Grouped by campus and by (this record's latest application's state and channel; whether
    the person applied through another record, has a live application there, has an account
    not made through this record), with the few groups classified here exactly as STATUS_Q
    classifies one record. The latest applications, the person's applications and the accounts
    are each read in one pass and hash-joined to the scope, not looked up record by record:
    200,000 records took seconds that way.
    """
    scope_sql, scope_params = (
        records.order_by()
        .values("pk", "campus_id", "id_number", "enrollment_year")
        .query.sql_with_params()
    )
    live = ", ".join(["%s"] * len(_LIVE))
    applications = Application._meta.db_table
    sql = f"""
        WITH scope (id, campus_id, id_number, enrollment_year) AS MATERIALIZED ({scope_sql}),
        latest AS (
            SELECT record_id, state, channel FROM (
                SELECT a.record_id, a.state, a.channel,
                       ROW_NUMBER() OVER (
                           PARTITION BY a.record_id ORDER BY a.submitted_at DESC, a.id DESC
                       ) AS position
                FROM {applications} a JOIN scope ON scope.id = a.record_id
            ) ranked
            WHERE position = 1
        ),
        person AS (
            SELECT a.id_number, p.enrollment_year,
                   COUNT(DISTINCT a.record_id) AS records,
                   MIN(a.record_id) AS some_record,
                   MAX(CASE WHEN a.state IN ({live}) THEN a.record_id END) AS live_record
            FROM {applications} a
            JOIN {PolicyYear._meta.db_table} p ON p.id = a.policy_year_id
            WHERE a.id_number IN (SELECT id_number FROM scope)
            GROUP BY a.id_number, p.enrollment_year
        ),
        account AS (
            SELECT c.id_number, a.record_id
            FROM {InsuranceAccount._meta.db_table} c
            LEFT JOIN {applications} a ON a.id = c.application_id
            WHERE c.id_number IN (SELECT id_number FROM scope)
        )
        SELECT r.campus_id, l.state, l.channel,
               CASE WHEN v.records > 1 OR v.some_record <> r.id THEN 1 ELSE 0 END,
               CASE WHEN v.live_record IS NOT NULL AND v.live_record <> r.id THEN 1 ELSE 0 END,
               CASE WHEN c.id_number IS NOT NULL
                         AND (c.record_id IS NULL OR c.record_id <> r.id) THEN 1 ELSE 0 END,
               COUNT(*)
        FROM scope r
        LEFT JOIN latest l ON l.record_id = r.id
        LEFT JOIN person v ON v.id_number = r.id_number AND v.enrollment_year = r.enrollment_year
        LEFT JOIN account c ON c.id_number = r.id_number
        GROUP BY 1, 2, 3, 4, 5, 6
    """
    if connection.vendor != "postgresql":
        sql = sql.replace("AS MATERIALIZED (", "AS (")  # SQLite: the same, as a plain CTE
    with connection.cursor() as cursor:
        cursor.execute(sql, [*scope_params, *_LIVE])
        groups = cursor.fetchall()
    totals: dict[int, dict[str, int]] = {}
    for campus_id, state, channel, any_elsewhere, live_elsewhere, account, count in groups:
        row = totals.setdefault(campus_id, dict.fromkeys(PROGRESS_COUNTS, 0))
        row["uploaded"] += count
        if channel == Application.Channel.SELF:
            row["confirmed_self"] += count
        elif channel == Application.Channel.ON_BEHALF:
            row["confirmed_on_behalf"] += count
        row[_status_of_group(state, any_elsewhere, live_elsewhere, account)] += count
    campuses = Campus.objects.filter(pk__in=totals).select_related("school", "district")
    return [_campus_row(campus, totals[campus.pk]) for campus in campuses]


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


def _status_of_group(
    state: str | None, any_elsewhere: int, live_elsewhere: int, account: int
) -> str:
    """The progress column of a group of records, as STATUS_Q classifies each of them."""
    if state is None:
        return "elsewhere" if any_elsewhere or account else "unconfirmed"
    if state == Application.State.FAILED:
        return "elsewhere" if live_elsewhere else "failed"
    return _COUNTED_STATES[state]


_COUNTED_STATES = {
    Application.State.CREATED: "created",
    Application.State.WAITING: "waiting",
    Application.State.PENDING: "pending",
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
    failed_records = filter_by_status(records_with_status(records), STATUS_FAILED)
    return applications_in_scope(records).filter(pk__in=failed_records.values("app_pk"))


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
