"""Staff reads: progress and lists, always within the user's filing scope.

Every function takes a queryset of records already limited by `records_visible_to(user)`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from confirmations.models import Application, BatchConfirmation, PolicyYear
from enrollment.models import StudentRecord
from schools.models import Campus, User
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
    """The records whose status (as `records_with_status` shows it) is `status`.

    Written as EXISTS / NOT EXISTS rather than on the annotations: PostgreSQL then joins the
    applications once (hash semi- and anti-joins) instead of running the "latest application"
    subquery for each of 50,000 records before it can count or skip to page 500.
    """
    if status in (STATUS_UNCONFIRMED, STATUS_ELSEWHERE):
        # No application of its own; then any live one for the person is another school's.
        own = Exists(Application.objects.filter(record=OuterRef("pk")))
        live = Exists(
            Application.objects.filter(
                id_number=OuterRef("id_number"),
                policy_year__enrollment_year=OuterRef("enrollment_year"),
                state__in=_LIVE,
            )
        )
        return records.filter(~own, ~live if status == STATUS_UNCONFIRMED else live)
    if status in _STATE_OF_STATUS:
        later = Application.objects.filter(
            record=OuterRef("record"), submitted_at__gt=OuterRef("submitted_at")
        )
        latest_in_state = Application.objects.filter(
            ~Exists(later), record=OuterRef("pk"), state=_STATE_OF_STATUS[status]
        )
        return records.filter(Exists(latest_in_state))
    return records


_PROGRESS_COUNTS = (
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


def campus_progress(records: QuerySet[StudentRecord]) -> list[dict]:
    """Per campus: on the roster, confirmed (self / on behalf), created, waiting, pending,
    failed, done through another school, not confirmed.

    One statement, grouped by campus and by (latest application's state and channel, live
    elsewhere), with the few groups added up here. The latest application of every record in
    scope is ranked in one pass over the applications and joined (hash joins), not looked up
    record by record: 200,000 records took seconds that way.
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
                           PARTITION BY a.record_id ORDER BY a.submitted_at DESC
                       ) AS position
                FROM {applications} a JOIN scope ON scope.id = a.record_id
            ) ranked
            WHERE position = 1
        ),
        live AS (
            -- At most one per person and year (one_live_application_per_person_year), so the
            -- join below adds no rows; hashed once instead of probed per record.
            SELECT a.id_number, p.enrollment_year
            FROM {applications} a
            JOIN {PolicyYear._meta.db_table} p ON p.id = a.policy_year_id
            WHERE a.state IN ({live})
        )
        SELECT r.campus_id, l.state, l.channel,
               CASE WHEN l.record_id IS NULL AND v.id_number IS NOT NULL THEN 1 ELSE 0 END,
               COUNT(*)
        FROM scope r
        LEFT JOIN latest l ON l.record_id = r.id
        LEFT JOIN live v ON v.id_number = r.id_number AND v.enrollment_year = r.enrollment_year
        GROUP BY 1, 2, 3, 4
    """
    if connection.vendor != "postgresql":
        sql = sql.replace("AS MATERIALIZED (", "AS (")  # SQLite: the same, as a plain CTE
    with connection.cursor() as cursor:
        cursor.execute(sql, [*scope_params, *_LIVE])
        groups = [
            {
                "campus_id": campus_id,
                "latest_key": None if state is None else f"{state}:{channel}",
                "live_elsewhere": bool(elsewhere),
                "count": count,
            }
            for campus_id, state, channel, elsewhere, count in cursor.fetchall()
        ]
    totals: dict[int, dict[str, int]] = {}
    for group in groups:
        row = totals.setdefault(group["campus_id"], dict.fromkeys(_PROGRESS_COUNTS, 0))
        count = group["count"]
        row["uploaded"] += count
        if group["latest_key"] is None:
            row["elsewhere" if group["live_elsewhere"] else "unconfirmed"] += count
            continue
        state, channel = group["latest_key"].split(":", 1)
        if channel == Application.Channel.SELF:
            row["confirmed_self"] += count
        elif channel == Application.Channel.ON_BEHALF:
            row["confirmed_on_behalf"] += count
        if state in _COUNTED_STATES:
            row[_COUNTED_STATES[state]] += count
    campuses = Campus.objects.filter(pk__in=totals).select_related("school", "district")
    rows = [
        {
            "campus_id": campus.pk,
            "school_id": campus.school_id,
            "campus__code": campus.code,
            "campus__name": campus.name,
            "school__code": campus.school.code,
            "school__name": campus.school.name,
            "campus__district__name": campus.district.name,
            **totals[campus.pk],
        }
        for campus in campuses
    ]
    return sorted(rows, key=lambda row: row["campus__code"])


_COUNTED_STATES = {
    Application.State.CREATED: "created",
    Application.State.WAITING: "waiting",
    Application.State.PENDING: "pending",
    Application.State.FAILED: "failed",
}


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
        overdue |= Q(policy_year=year, submitted_at__lt=cutoff)
    return (
        applications_in_scope(records)
        .filter(overdue, state=Application.State.PENDING)
        .order_by("submitted_at")
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
