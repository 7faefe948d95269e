"""Who may read which audit entries, and the search over them."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import person_hash
from schools.models import School, User
from schools.scoping import campuses_fileable_by, schools_fileable_by


def can_read_audit(user: User) -> bool:
    return user.is_authenticated and (user.is_city_admin or user.is_district_handler)


def entries_visible_to(user: User) -> QuerySet[AuditEntry]:
    """City administrators read every entry; a district handler the entries of their scope
    (the schools and campuses they file for, by the five rules) and their own."""
    entries = AuditEntry.objects.select_related("school", "campus")
    if user.is_authenticated and user.is_city_admin:
        return entries
    if not can_read_audit(user):
        return entries.none()
    in_scope = Q(school__in=schools_fileable_by(user)) & (
        Q(campus__isnull=True) | Q(campus__in=campuses_fileable_by(user))
    )
    return entries.filter(in_scope | Q(actor=user))


def entries_search(
    entries: QuerySet[AuditEntry],
    *,
    id_number: str = "",
    username: str = "",
    school: School | None = None,
    action: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[AuditEntry]:
    if id_number:
        person = person_hash(id_number)
        entries = entries.filter(Q(person_hash=person) | Q(detail__previous_person=person))
    if username:
        entries = entries.filter(actor_label__iexact=username.strip())
    if school is not None:
        entries = entries.filter(school=school)
    if action:
        entries = entries.filter(action=action)
    zone = timezone.get_current_timezone()
    if date_from:
        entries = entries.filter(at__gte=dt.datetime.combine(date_from, dt.time.min, zone))
    if date_to:
        entries = entries.filter(
            at__lt=dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, zone)
        )
    return entries.order_by("-at", "-pk")
