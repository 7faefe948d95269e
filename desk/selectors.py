"""Staff reads: progress and lists, always within the user's filing scope.

Every function takes a queryset of records already limited by `records_visible_to(user)`.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from confirmations.models import Application, BatchConfirmation, PolicyYear
from enrollment.models import StudentRecord
from schools.models import User
from schools.scoping import campuses_fileable_by

STATUS_ACTIVATED = "activated"
STATUS_PENDING = "pending"
STATUS_FAILED = "failed"
STATUS_UNCONFIRMED = "unconfirmed"
STATUS_CHOICES = [
    (STATUS_ACTIVATED, "已激活（建账成功）"),
    (STATUS_PENDING, "待建账"),
    (STATUS_FAILED, "建账失败"),
    (STATUS_UNCONFIRMED, "未确认"),
]
_STATE_OF_STATUS = {
    STATUS_ACTIVATED: Application.State.CREATED,
    STATUS_PENDING: Application.State.PENDING,
    STATUS_FAILED: Application.State.FAILED,
}


def records_with_status(records: QuerySet[StudentRecord]) -> QuerySet[StudentRecord]:
    """Annotate each record with its latest application: state, channel, reason, who, when."""
    latest = Application.objects.filter(record=OuterRef("pk")).order_by("-submitted_at")
    return records.annotate(
        app_state=Subquery(latest.values("state")[:1]),
        app_channel=Subquery(latest.values("channel")[:1]),
        app_reason=Subquery(latest.values("failure_reason")[:1]),
        app_number=Subquery(latest.values("approval_number")[:1]),
        app_submitted_at=Subquery(latest.values("submitted_at")[:1]),
        app_confirmed_by=Subquery(latest.values("confirmed_by__last_name")[:1]),
        app_confirmed_by_login=Subquery(latest.values("confirmed_by__username")[:1]),
    )


def filter_by_status(records: QuerySet[StudentRecord], status: str) -> QuerySet[StudentRecord]:
    if status == STATUS_UNCONFIRMED:
        return records.filter(app_state__isnull=True)
    if status in _STATE_OF_STATUS:
        return records.filter(app_state=_STATE_OF_STATUS[status])
    return records


def campus_progress(records: QuerySet[StudentRecord]) -> list[dict]:
    """Per campus: on the roster, confirmed (self / on behalf), created, failed, pending, none."""
    annotated = records_with_status(records)
    rows = (
        annotated.order_by()
        .values(
            "campus__code", "campus__name", "school__code", "school__name", "campus__district__name"
        )
        .annotate(
            uploaded=Count("pk"),
            confirmed_self=Count("pk", filter=Q(app_channel=Application.Channel.SELF)),
            confirmed_on_behalf=Count("pk", filter=Q(app_channel=Application.Channel.ON_BEHALF)),
            created=Count("pk", filter=Q(app_state=Application.State.CREATED)),
            pending=Count("pk", filter=Q(app_state=Application.State.PENDING)),
            failed=Count("pk", filter=Q(app_state=Application.State.FAILED)),
            unconfirmed=Count("pk", filter=Q(app_state__isnull=True)),
        )
        .order_by("campus__code")
    )
    return list(rows)


def applications_in_scope(records: QuerySet[StudentRecord]) -> QuerySet[Application]:
    return Application.objects.filter(record__in=records).select_related(
        "record__school", "confirmed_by", "policy_year"
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
        campus__in=campuses_fileable_by(user)
    )
    return not outside.exists()
