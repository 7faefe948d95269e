"""Reads scoped to what a user may see; every view lists records through these."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.apps import apps
from django.contrib.postgres.fields import ArrayField
from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import Count, Exists, Func, OuterRef, Q, QuerySet, TextField

from enrollment.models import HEAVY_UPLOAD_FIELDS, RosterUpload, StudentRecord
from enrollment.rules import MOBILE_PATTERN, normalize_id_number, normalize_text
from schools.models import Campus, User
from schools.scoping import campuses_fileable_by, campuses_visible_to

# Lists show records by school, campus and student number. A campus code starts with its
# school's code (schools.Campus.clean, rules._check_campus), so ordering by the record's own
# campus code is the same order without joining the school; the index
# (campus, enrollment_year, campus_code, student_number) then holds everything a page's keys
# need (`keyed_page`).
LIST_ORDER = ("campus_code", "student_number")


def keyed_page(
    records: QuerySet[StudentRecord],
    number: object,
    *,
    per_page: int,
    shown: Callable[[QuerySet[StudentRecord]], QuerySet[StudentRecord]] = lambda rows: rows,
) -> Page:
    """A page of `records` (ordered): its keys first, then only those records.

    The keys and the count are read from the index alone (campus, year, list order, id),
    sorting narrow rows; the full rows — with whatever `shown` adds (joins, the status
    subqueries) — are then read for the page's records only. Selecting full rows with an OFFSET
    read, sorted and annotated every skipped record (25,000 on page 500).
    """
    page = Paginator(records.values_list("pk", flat=True), per_page).get_page(number)
    keys = list(page.object_list)
    position = {key: index for index, key in enumerate(keys)}
    rows = shown(StudentRecord.objects.filter(pk__in=keys))
    page.object_list = sorted(rows, key=lambda record: position[record.pk])
    return page


def records_visible_to(user: User) -> QuerySet[StudentRecord]:
    """The records a user may see, correct and confirm (a deregistered or merged school's too,
    for its districts' handlers and the city); uploads and deletions use the fileable scope.

    The campuses are read first (one small query) and given as a list: PostgreSQL then plans
    `campus_id = ANY(...)` with the campuses' statistics and reads a page of a district's list
    in order from an index (`record_year_order`), stopping after the page. As a subquery (five
    ORed scoping rules) it hash-joined and sorted the whole scope: 200,000 rows on disk for a
    district's page 500, fast only while the table happened to lie in list order.
    """
    campuses = list(campuses_visible_to(user).values_list("pk", flat=True))
    return StudentRecord.objects.filter(campus__in=campuses)


# A part of an ID number or student number this long or longer is searched inside them (a
# filer types the last digits a student reads out); shorter, only a whole one matches, so that
# "12" does not list half the school.
PARTIAL_NUMBER_MIN = 4


def records_search(records: QuerySet[StudentRecord], query: str) -> QuerySet[StudentRecord]:
    """Match a name (contains), an ID number or a student number (whole, or from
    PARTIAL_NUMBER_MIN characters on a part of it; case-insensitive).

    On PostgreSQL the parts are found through trigram indexes (migration 0007), not by
    reading every record of the scope.
    """
    query = normalize_text(query)
    if not query:
        return records
    compact = normalize_id_number(query)
    match = Q(id_number=compact) | Q(student_number__iexact=compact)
    if len(compact) >= PARTIAL_NUMBER_MIN:
        match |= Q(id_number__contains=compact) | Q(student_number__icontains=compact)
    if not _DIGITS.fullmatch(compact):
        # Names hold no digits: a number is looked up in the number indexes alone (an OR with
        # a name that can hold it would read every record in scope).
        if len(query) <= NAME_GRAM_MAX and connections[records.db].vendor == "postgresql":
            # The same match as `contains` (every part this short is in the name's grams), but
            # through migration 0013's index: a trigram cannot narrow a two-character name.
            records = records.alias(name_grams=_NameGrams("name"))
            match |= Q(name_grams__contains=[query])
        else:
            match |= Q(name__contains=query)
    return records.filter(match)


# The longest part of a name `enrollment_name_grams` (migration 0013) indexes.
NAME_GRAM_MAX = 2


class _NameGrams(Func):
    """Every one- and two-character part of a name, as migration 0013 indexes it."""

    function = "enrollment_name_grams"
    output_field = ArrayField(TextField())


_DIGITS = re.compile(r"[0-9]+X?")


def records_marking_confirmed(records: QuerySet[StudentRecord]) -> QuerySet[StudentRecord]:
    """Each record with `confirmed`: the student has confirmed (an application refers to it),
    so the record is kept, not deleted. One EXISTS per listed row."""
    application = apps.get_model("confirmations", "Application")  # no upward import
    return records.annotate(confirmed=Exists(application.objects.filter(record=OuterRef("pk"))))


def records_without_mobile(records: QuerySet[StudentRecord]) -> QuerySet[StudentRecord]:
    """Records whose phone cannot receive a one-time code (`rules.is_mobile`: a landline)."""
    return records.exclude(phone__regex=MOBILE_PATTERN).exclude(phone__startswith="+")


def uploads_visible_to(user: User) -> QuerySet[RosterUpload]:
    """A filer sees the uploads they made for a school they may still file for; city
    administrators see all of them.

    Checked against the user's designations as they are now, on every request: a filer who
    lost the designation no longer opens their old previews or error workbooks (they carry
    full ID numbers and phones). Lists and the status poll never load the file or the stored
    results.
    """
    uploads = RosterUpload.objects.select_related("school", "uploaded_by").defer(
        *HEAVY_UPLOAD_FIELDS
    )
    if user.is_city_admin:
        return uploads
    schools = campuses_fileable_by(user).values("school")
    return uploads.filter(uploaded_by=user, school__in=schools)


def campus_progress(user: User, *, year: int) -> QuerySet[Campus]:
    """The user's campuses with how many records each has for the year."""
    return (
        campuses_fileable_by(user)
        .annotate(record_count=Count("records", filter=Q(records__enrollment_year=year)))
        .order_by("code")
    )
