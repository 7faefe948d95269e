"""Account gateways: where insurance accounts are created (setting `ACCOUNT_GATEWAY`).

The built-in gateway keeps accounts in the portal's database and consults the existing-coverage
registry; a deployment can plug in a client of the city's system with the same interface.

Two calls, because a waiting-period student's account comes months after the check (seed 03:
"需待遇期满后的次日，才能看到建账结果"): `check` answers within minutes of the confirmation
(refused, and why; or how many years the person was without coverage); `create_account` creates
the account — at once without a waiting period, on the day after it otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from confirmations.models import Application, CoverageRecord, InsuranceAccount
from enrollment.rules import same_name

NAME_MISMATCH = "相同证件号存在其他医保账户但姓名不同"
EMPLOYEE_INSURANCE = "已参加职工基本医疗保险，需先停止职工医保待遇"
Kind = Application.FailureKind


class GatewayUnavailable(Exception):
    """A technical failure: the request may succeed if tried again later."""


@dataclass(frozen=True)
class AccountOutcome:
    created: bool  # check: the person may have an account; create_account: it exists now
    reason: str = ""
    failure_kind: str = ""  # Application.FailureKind, when refused
    converted_from: str = ""
    gap_years: int = 0  # years without coverage before enrolling: decides the waiting period

    @property
    def refused(self) -> bool:
        return not self.created


class AccountGateway(Protocol):
    def check(self, application: Application) -> AccountOutcome: ...

    def create_account(self, application: Application) -> AccountOutcome: ...


class BuiltinGateway:
    """Accounts in the portal's own tables; both calls are safe to repeat for one application."""

    def check(self, application: Application) -> AccountOutcome:
        coverage = CoverageRecord.objects.filter(id_number=application.id_number).first()
        existing = InsuranceAccount.objects.filter(id_number=application.id_number).first()
        for other in (existing, coverage):
            if other is not None and not same_name(other.name, application.name):
                return AccountOutcome(False, NAME_MISMATCH, Kind.NAME_MISMATCH)
        if coverage is not None and coverage.kind == CoverageRecord.Kind.EMPLOYEE:
            return AccountOutcome(False, EMPLOYEE_INSURANCE, Kind.EMPLOYEE_INSURANCE)
        if coverage is not None and coverage.kind == CoverageRecord.Kind.CITY_RESIDENT:
            return AccountOutcome(True, converted_from="本市居民医保")
        if coverage is not None and coverage.kind == CoverageRecord.Kind.LAPSED:
            return AccountOutcome(True, gap_years=max(1, coverage.gap_years))
        return AccountOutcome(True)

    def create_account(self, application: Application) -> AccountOutcome:
        outcome = self.check(application)
        if outcome.refused:
            return outcome
        InsuranceAccount.objects.get_or_create(
            id_number=application.id_number,
            defaults={
                "name": application.name,
                "converted_from": outcome.converted_from,
                "application": application,
            },
        )
        return outcome


def account_gateway() -> AccountGateway:
    return import_string(settings.ACCOUNT_GATEWAY)()
