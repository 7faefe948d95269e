"""Reads for the student's pages: only what belongs to the identified person."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from confirmations.models import Application, PolicyYear
from enrollment.models import StudentRecord


@dataclass(frozen=True)
class StudentState:
    live: Application | None  # pending or created
    latest_failed: Application | None
    can_reapply: bool  # failed, and the school has corrected the record since


def applications_of(id_number: str) -> QuerySet[Application]:
    return Application.objects.filter(id_number=id_number).order_by("-submitted_at")


def records_for_student(student: dict, policy_year: PolicyYear) -> list[StudentRecord]:
    """The roster records of the identified student for the year (one per school)."""
    return list(
        StudentRecord.objects.filter(
            id_number=student["id_number"],
            name=student["name"],
            enrollment_year=policy_year.enrollment_year,
        )
        .select_related("school", "campus")
        .order_by("school__code")
    )


def student_state(id_number: str, policy_year: PolicyYear) -> StudentState:
    applications = list(applications_of(id_number).filter(policy_year=policy_year))
    live = next((a for a in applications if a.state != Application.State.FAILED), None)
    failed = next((a for a in applications if a.state == Application.State.FAILED), None)
    can_reapply = live is None and failed is not None and reapply_allowed(failed)
    return StudentState(live=live, latest_failed=failed, can_reapply=can_reapply)


def reapply_allowed(failed: Application) -> bool:
    """Whether a new application may follow a failed one.

    A technical failure may always be tried again; a student with employee insurance may apply
    again once they have stopped it; any other business failure (a name mismatch) needs the
    school to correct the record first.
    """
    from confirmations.gateway import EMPLOYEE_INSURANCE

    if failed.failure_kind == Application.FailureKind.TECHNICAL:
        return True
    if failed.failure_reason == EMPLOYEE_INSURANCE:
        return True
    return bool(failed.processed_at and failed.record.updated_at > failed.processed_at)
