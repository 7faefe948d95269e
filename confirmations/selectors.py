"""Reads for the student's pages: only what was done through the records the session holds.

A student's session is bound to the roster records whose phone received the code
(`confirmations.otp`); every page asks these selectors, which never look beyond them. The
one person-wide read is `student_state`, which keeps a second live application for the same
person and year from being made through another school's record.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Case, Q, QuerySet, When
from django.utils import timezone

from confirmations import failures
from confirmations.benefits import BenefitPeriod
from confirmations.models import Application, PolicyYear, Question
from enrollment.models import StudentRecord

MAX_QUERY_CHARS = 50
MAX_QUERY_TERMS = 5


@dataclass(frozen=True)
class StudentState:
    live: Application | None  # pending, waiting or created
    latest_failed: Application | None
    can_reapply: bool  # failed, and a new application can succeed (confirmations.failures)


def applications_of(id_number: str) -> QuerySet[Application]:
    """Every application of a person, whichever school's record it came through (staff/state)."""
    return Application.objects.filter(id_number=id_number).order_by("-submitted_at")


def applications_through(record_ids: Iterable[int]) -> QuerySet[Application]:
    """The applications made through the session's records: all a student may see."""
    return Application.objects.filter(record_id__in=list(record_ids)).order_by("-submitted_at")


# What the flow reads of a session's record (the pages, the pledge, the checks before an
# application, its audit entry): compiling and loading the record's other twenty columns and
# the school's cost more than the query itself.
SESSION_RECORD_FIELDS = (
    "school__code",
    "school__name",
    "campus_id",
    "enrollment_year",
    "name",
    "id_type",
    "id_number",
    "college",
    "major",
    "student_number",
    "registration_date",
    "willingness",
)


def session_records(record_ids: Iterable[int]) -> list[StudentRecord]:
    """The session's roster records, every year, one per school and year (empty when gone).

    They share one ID number (the code was sent for it): the person's. One query a request:
    the views take the person and the year's records from it.
    """
    records = (
        StudentRecord.objects.filter(pk__in=list(record_ids))
        .select_related("school")
        .only(*SESSION_RECORD_FIELDS)
        .order_by()
    )
    return sorted(records, key=by_school)


def by_school(record: StudentRecord) -> tuple[str, int]:
    """The session's records in the order of their schools' codes (sorted here: a student has
    one or two, and compiling the ORDER BY cost more than the rest of the query's SQL)."""
    return (record.school.code, record.pk)


def records_of_year(
    records: Iterable[StudentRecord], policy_year: PolicyYear
) -> list[StudentRecord]:
    """The session's roster records for the year (one per school)."""
    return [r for r in records if r.enrollment_year == policy_year.enrollment_year]


def applications_for_year(id_number: str, policy_year: PolicyYear) -> list[Application]:
    """The person's applications for the year, latest first: the live one (at most one) and
    the failures. Sorted here, not in SQL: a person has none or a few, every step of the
    student's flow asks, and compiling the ORDER BY cost a third of the query's Python."""
    applications = Application.objects.filter(id_number=id_number, policy_year=policy_year)
    return sorted(applications.order_by(), key=lambda a: a.submitted_at, reverse=True)


def student_state(id_number: str, policy_year: PolicyYear) -> StudentState:
    # No join for the record: every step asks, and almost always no application exists yet; a
    # failed one reads its record when asked whether it may be applied for again.
    applications = applications_for_year(id_number, policy_year)
    live = next((a for a in applications if a.state != Application.State.FAILED), None)
    failed = next((a for a in applications if a.state == Application.State.FAILED), None)
    can_reapply = live is None and failed is not None and reapply_allowed(failed)
    return StudentState(live=live, latest_failed=failed, can_reapply=can_reapply)


reapply_allowed = failures.reapply_allowed


def benefit_period_of(application: Application | None) -> BenefitPeriod | None:
    """The student's own dates (benefit period, waiting period, account, e-voucher), once set.

    The one place that reads them from the application: an account created (已建账), or a
    waiting period decided (待遇等待期), gives dates; pending and failed applications give none.
    """
    if (
        application is None
        or application.state == Application.State.FAILED
        or application.benefit_start is None
        or application.benefit_end is None
        or application.voucher_from is None
    ):
        return None
    return BenefitPeriod(
        start=application.benefit_start,
        end=application.benefit_end,
        waiting_until=application.waiting_until,
        voucher_from=timezone.localtime(application.voucher_from).replace(tzinfo=None),
        account_on=application.account_on,
    )


def search_terms(query: str) -> list[str]:
    """The words of a student's search, bounded; full-width letters and digits as half-width."""
    text = unicodedata.normalize("NFKC", query or "")[:MAX_QUERY_CHARS]
    return text.split()[:MAX_QUERY_TERMS]


def questions_matching(policy_year: PolicyYear, query: str) -> QuerySet[Question]:
    """The year's published questions containing every word of the query (all when empty)."""
    questions = policy_year.questions.filter(is_published=True)
    terms = search_terms(query)
    for term in terms:
        questions = questions.filter(
            Q(question__icontains=term) | Q(answer__icontains=term) | Q(keywords__icontains=term)
        )
    questions = questions.select_related("policy_year")
    if not terms:
        return questions.order_by("order", "pk")
    # Questions that name the words come before answers that mention them.
    in_question = Q(*(Q(question__icontains=term) for term in terms))
    return questions.annotate(asked=Case(When(in_question, then=0), default=1)).order_by(
        "asked", "order", "pk"
    )
