"""Benefit-period and waiting-period arithmetic (domain.md §5–§6), as pure functions.

Numbers that differ by city or year (the waiting rule, when benefits start) come from the
policy year and its city; nothing here is Shanghai-specific.

What the seeds say, and how it is read here (seed 03, lines 77–81, 115–123, 133–135, 213–235):

* Without a waiting period the account is created within minutes of the confirmation; benefits
  run from the registration date (1 September when registered earlier) to 31 December; the
  e-voucher (医保码) can be claimed from 09:00 the day after signing.
* A freshman not insured in the national basic medical insurance in the enrollment year before
  enrolling has a waiting period that starts with the confirmation: "一般每断保一年，待遇等待期
  的时长为 3 个月，逐年累加" (seed 03, Shanghai's rule); the national guideline (seed 02) says
  3 months fixed plus 1 per year of interruption. The account is created "期满后的次日" (the day
  after the waiting period ends), the e-voucher from 09:00 that same day ("等待期满后的次日 9:00
  后申领"), and benefits run "医保建账后次日" (from the day after the account) to 31 December.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

VOUCHER_HOUR = 9  # the e-voucher (医保码) can be claimed from 09:00

# When a freshman without a waiting period starts to enjoy benefits (a city's rule).
START_FROM_REGISTRATION = "registration"  # Shanghai: the registration date, 1 Sept if earlier
START_FROM_SEPTEMBER = "september"  # Hangzhou (seed 05 Q6): everyone from 1 September


@dataclass(frozen=True)
class WaitingRule:
    """Months of waiting: a fixed part plus a part per year without coverage.

    A student insured in the year before enrolling waits not at all.
    """

    fixed_months: int = 0
    months_per_gap_year: int = 3

    def months(self, gap_years: int) -> int:
        if gap_years <= 0:
            return 0
        return self.fixed_months + self.months_per_gap_year * gap_years


# Seed 03 Q5 (Shanghai's notice to its freshmen): 3 months per year of interruption, cumulative.
LOCAL_WAITING_RULE = WaitingRule(fixed_months=0, months_per_gap_year=3)
# Seed 02 (国办发〔2024〕38 号): 3 months fixed, plus 1 month per year of interruption.
NATIONAL_WAITING_RULE = WaitingRule(fixed_months=3, months_per_gap_year=1)


@dataclass(frozen=True)
class BenefitPeriod:
    start: dt.date
    end: dt.date
    waiting_until: dt.date | None  # last day of the waiting period, when there is one
    voucher_from: dt.datetime  # naive local time
    account_on: dt.date | None = None  # the day the account is (to be) created

    @property
    def within_year(self) -> bool:
        """False when the waiting period runs past 31 December: no benefits this year."""
        return self.start <= self.end

    @property
    def has_waiting_period(self) -> bool:
        return self.waiting_until is not None


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, clamped to the month's end (31 Jan + 1 month → 28/29 Feb)."""
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def waiting_period_end(*, confirmed_on: dt.date, waiting_months: int) -> dt.date:
    """The last day of a waiting period that starts on the day of the confirmation."""
    return add_months(confirmed_on, waiting_months) - dt.timedelta(days=1)


def benefits_start(
    *, enrollment_year: int, registration_date: dt.date, start_rule: str = START_FROM_REGISTRATION
) -> dt.date:
    """The first day of benefits for a freshman without a waiting period (a city's rule)."""
    september = dt.date(enrollment_year, 9, 1)
    if start_rule == START_FROM_SEPTEMBER:
        return september
    return max(registration_date, september)


def benefit_period(
    *,
    enrollment_year: int,
    registration_date: dt.date,
    confirmed_on: dt.date,
    waiting_months: int,
    checked_on: dt.date | None = None,
    start_rule: str = START_FROM_REGISTRATION,
) -> BenefitPeriod:
    """When a freshman's benefits run in the enrollment year, and when the account comes.

    `confirmed_on` is the day the student (or the school on their behalf) confirmed;
    `checked_on` the day the insurance side checked the application (the account's day when
    there is no waiting period; the confirmation day when not given).
    """
    year_end = dt.date(enrollment_year, 12, 31)
    if waiting_months <= 0:
        account_on = checked_on or confirmed_on
        return BenefitPeriod(
            start=benefits_start(
                enrollment_year=enrollment_year,
                registration_date=registration_date,
                start_rule=start_rule,
            ),
            end=year_end,
            waiting_until=None,
            voucher_from=_at_voucher_hour(account_on + dt.timedelta(days=1)),
            account_on=account_on,
        )
    waiting_until = waiting_period_end(confirmed_on=confirmed_on, waiting_months=waiting_months)
    account_on = waiting_until + dt.timedelta(days=1)
    return BenefitPeriod(
        start=account_on + dt.timedelta(days=1),
        end=year_end,
        waiting_until=waiting_until,
        voucher_from=_at_voucher_hour(account_on),
        account_on=account_on,
    )


def _at_voucher_hour(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(VOUCHER_HOUR, 0))
