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
    can_reapply = False
    if live is None and failed is not None:
        if failed.failure_kind == Application.FailureKind.TECHNICAL:
            can_reapply = True
        else:
            record = failed.record
            can_reapply = bool(failed.processed_at and record.updated_at > failed.processed_at)
    return StudentState(live=live, latest_failed=failed, can_reapply=can_reapply)
