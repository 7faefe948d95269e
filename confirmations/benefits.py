"""Benefit-period arithmetic (domain.md §5–§6), as pure functions.

Numbers that differ by city or year (the waiting-period rule, the dates) come from the policy
year; nothing here is Shanghai-specific.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

VOUCHER_HOUR = 9  # the e-voucher (医保码) can be claimed from 09:00


@dataclass(frozen=True)
class WaitingRule:
    """Months of waiting: a fixed part plus a part per year without coverage.

    Seed 02 (national rule): 3 fixed + 1 per year of interruption; seed 03: 3 per year, cumulative
    (fixed 0, per year 3). A student insured in the year before enrolling waits not at all.
    """

    fixed_months: int = 3
    months_per_gap_year: int = 1

    def months(self, gap_years: int) -> int:
        if gap_years <= 0:
            return 0
        return self.fixed_months + self.months_per_gap_year * gap_years


@dataclass(frozen=True)
class BenefitPeriod:
    start: dt.date
    end: dt.date
    waiting_until: dt.date | None  # last day of the waiting period, when there is one
    voucher_from: dt.datetime  # naive local time

    @property
    def within_year(self) -> bool:
        """False when the waiting period runs past 31 December: no benefits this year."""
        return self.start <= self.end


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, clamped to the month's end (31 Jan + 1 month → 28/29 Feb)."""
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def benefit_period(
    *,
    enrollment_year: int,
    registration_date: dt.date,
    account_created_on: dt.date,
    waiting_months: int,
) -> BenefitPeriod:
    """When a freshman's benefits run in the enrollment year.

    Without a waiting period: from the registration date (1 September for earlier registrations)
    to 31 December; the e-voucher from 09:00 the day after the account is created.
    With one: the waiting period runs from the account's creation; benefits and the e-voucher
    start the day after it ends, to 31 December.
    """
    year_end = dt.date(enrollment_year, 12, 31)
    if waiting_months <= 0:
        start = max(registration_date, dt.date(enrollment_year, 9, 1))
        voucher_day = account_created_on + dt.timedelta(days=1)
        return BenefitPeriod(start, year_end, None, _at_voucher_hour(voucher_day))
    waiting_until = add_months(account_created_on, waiting_months) - dt.timedelta(days=1)
    start = waiting_until + dt.timedelta(days=1)
    return BenefitPeriod(start, year_end, waiting_until, _at_voucher_hour(start))


def _at_voucher_hour(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(VOUCHER_HOUR, 0))
