"""Benefit period and waiting period arithmetic (domain.md §5–§6)."""

import datetime as dt

from confirmations.benefits import WaitingRule, add_months, benefit_period


def test_waiting_rule_defaults_to_seed_02_three_fixed_plus_one_per_gap_year():
    assert WaitingRule().months(1) == 4
    assert WaitingRule().months(3) == 6


def test_waiting_rule_seed_03_variant_three_per_gap_year():
    assert WaitingRule(fixed_months=0, months_per_gap_year=3).months(2) == 6


def test_no_waiting_period_without_a_gap():
    assert WaitingRule().months(0) == 0


def test_benefits_start_on_registration_date_from_september():
    period = benefit_period(
        enrollment_year=2026,
        registration_date=dt.date(2026, 9, 12),
        account_created_on=dt.date(2026, 9, 20),
        waiting_months=0,
    )
    assert (period.start, period.end, period.waiting_until) == (
        dt.date(2026, 9, 12),
        dt.date(2026, 12, 31),
        None,
    )


def test_august_registration_starts_benefits_on_1_september():
    period = benefit_period(
        enrollment_year=2026,
        registration_date=dt.date(2026, 8, 25),
        account_created_on=dt.date(2026, 9, 2),
        waiting_months=0,
    )
    assert period.start == dt.date(2026, 9, 1)


def test_voucher_from_nine_the_day_after_the_account():
    period = benefit_period(
        enrollment_year=2026,
        registration_date=dt.date(2026, 9, 1),
        account_created_on=dt.date(2026, 9, 30),
        waiting_months=0,
    )
    assert period.voucher_from == dt.datetime(2026, 10, 1, 9, 0)


def test_waiting_period_delays_benefits_to_the_day_after_it_ends():
    period = benefit_period(
        enrollment_year=2026,
        registration_date=dt.date(2026, 9, 1),
        account_created_on=dt.date(2026, 9, 10),
        waiting_months=3,
    )
    assert period.waiting_until == dt.date(2026, 12, 9)
    assert period.start == dt.date(2026, 12, 10)
    assert period.voucher_from == dt.datetime(2026, 12, 10, 9, 0)
    assert period.within_year


def test_waiting_period_past_year_end_leaves_no_benefits_this_year():
    period = benefit_period(
        enrollment_year=2026,
        registration_date=dt.date(2026, 9, 1),
        account_created_on=dt.date(2026, 10, 15),
        waiting_months=4,
    )
    assert not period.within_year


def test_add_months_clamps_to_month_end():
    assert add_months(dt.date(2026, 10, 31), 4) == dt.date(2027, 2, 28)
    assert add_months(dt.date(2027, 11, 30), 3) == dt.date(2028, 2, 29)
