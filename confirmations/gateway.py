"""Account gateways: where insurance accounts are created (setting `ACCOUNT_GATEWAY`).

The built-in gateway keeps accounts in the portal's database and consults the existing-coverage
registry; a deployment can plug in a client of the city's system with the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from confirmations.models import Application, CoverageRecord, InsuranceAccount

NAME_MISMATCH = "相同证件号存在其他医保账户但姓名不同"
EMPLOYEE_INSURANCE = (
    "已参加职工基本医疗保险。请先联系参保地医保部门停止职工医保待遇，再由本人或院校重新申请参保确认"
)


class GatewayUnavailable(Exception):
    """A technical failure: the request may succeed if tried again later."""


@dataclass(frozen=True)
class AccountOutcome:
    created: bool
    reason: str = ""
    converted_from: str = ""
    gap_years: int = 0  # years without coverage before enrolling: decides the waiting period


class AccountGateway(Protocol):
    def create_account(self, application: Application) -> AccountOutcome: ...


class BuiltinGateway:
    """Accounts in the portal's own tables; safe to call twice for one application."""

    def create_account(self, application: Application) -> AccountOutcome:
        coverage = CoverageRecord.objects.filter(id_number=application.id_number).first()
        existing = InsuranceAccount.objects.filter(id_number=application.id_number).first()
        if existing is not None and existing.name != application.name:
            return AccountOutcome(created=False, reason=NAME_MISMATCH)
        if coverage is not None and coverage.name != application.name:
            return AccountOutcome(created=False, reason=NAME_MISMATCH)
        if coverage is not None and coverage.kind == CoverageRecord.Kind.EMPLOYEE:
            return AccountOutcome(created=False, reason=EMPLOYEE_INSURANCE)

        converted_from = ""
        gap_years = 0
        if coverage is not None and coverage.kind == CoverageRecord.Kind.CITY_RESIDENT:
            converted_from = "本市居民医保"
        if coverage is not None and coverage.kind == CoverageRecord.Kind.LAPSED:
            gap_years = max(1, coverage.gap_years)
        if existing is None:
            InsuranceAccount.objects.create(
                id_number=application.id_number,
                name=application.name,
                converted_from=converted_from,
                application=application,
            )
        return AccountOutcome(created=True, converted_from=converted_from, gap_years=gap_years)


def account_gateway() -> AccountGateway:
    return import_string(settings.ACCOUNT_GATEWAY)()
