"""How long uploaded roster files are kept (domain rule, no database).

A roster file holds every freshman's ID number, phone and address. Once its policy year has
closed (both confirmation channels shut) and a margin for questions and corrections has
passed, the bytes go; the counts, the error list and the audit trail stay.
"""

from __future__ import annotations

import datetime as dt


def year_closes_on(enrollment_year: int, closing_dates: dict[int, dt.date]) -> dt.date:
    """When the policy year of `enrollment_year` closed, or 1 January after it by default."""
    return closing_dates.get(enrollment_year, dt.date(enrollment_year + 1, 1, 1))


def purge_due(
    *, enrollment_year: int, closing_dates: dict[int, dt.date], days_after_year: int, today: dt.date
) -> bool:
    closes = year_closes_on(enrollment_year, closing_dates)
    return today >= closes + dt.timedelta(days=days_after_year)
