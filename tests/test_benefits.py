"""Benefit period and waiting period arithmetic (domain.md §5–§6), with seed 03's dates."""

import datetime as dt

from confirmations.benefits import (
    LOCAL_WAITING_RULE,
    NATIONAL_WAITING_RULE,
    START_FROM_SEPTEMBER,
    WaitingRule,
    add_months,
    benefit_period,
    waiting_period_end,
)


def test_default_waiting_rule_is_seed_03_three_months_per_gap_year_cumulative():
    assert WaitingRule() == LOCAL_WAITING_RULE
    assert [WaitingRule().months(years) for years in (1, 2, 3)] == [3, 6, 9]


def test_national_waiting_rule_of_seed_02_is_three_fixed_plus_one_per_gap_year():
    assert [NATIONAL_WAITING_RULE.months(years) for years in (1, 2, 3)] == [4, 5, 6]


def test_no_waiting_period_without_a_gap():
    assert WaitingRule().months(0) == 0
    assert NATIONAL_WAITING_RULE.months(0) == 0


def test_seed_03_no_waiting_period_registered_before_september_runs_1_september_to_31_december():
    # "25 级无待遇等待期新生，待遇享受期为 2025 年 9 月 1 日至 12 月 31 日"
    period = benefit_period(
        enrollment_year=2025,
        registration_date=dt.date(2025, 8, 28),
        confirmed_on=dt.date(2025, 9, 6),
        waiting_months=0,
    )
    assert (period.start, period.end, period.waiting_until) == (
        dt.date(2025, 9, 1),
        dt.date(2025, 12, 31),
        None,
    )


def test_benefits_start_on_the_registration_date_from_september():
    period = benefit_period(
        enrollment_year=2026,
        registration_date=dt.date(2026, 9, 12),
        confirmed_on=dt.date(2026, 9, 20),
        waiting_months=0,
    )
    assert period.start == dt.date(2026, 9, 12)


def test_seed_03_e_voucher_from_nine_the_day_after_signing():
    # "无待遇等待期的新生，可于签署《自愿参保承诺及知情同意书》的次日 9:00 后申领医保码"
    period = benefit_period(
        enrollment_year=2025,
        registration_date=dt.date(2025, 9, 1),
        confirmed_on=dt.date(2025, 9, 30),
        waiting_months=0,
    )
    assert period.voucher_from == dt.datetime(2025, 10, 1, 9, 0)
    assert period.account_on == dt.date(2025, 9, 30)


def test_e_voucher_follows_the_day_the_account_was_actually_created():
    period = benefit_period(
        enrollment_year=2025,
        registration_date=dt.date(2025, 9, 1),
        confirmed_on=dt.date(2025, 9, 30),
        checked_on=dt.date(2025, 10, 1),  # the insurance side was down overnight
        waiting_months=0,
    )
    assert period.voucher_from == dt.datetime(2025, 10, 2, 9, 0)


def test_seed_03_waiting_period_starts_with_the_confirmation_and_lasts_three_months_a_gap_year():
    assert waiting_period_end(confirmed_on=dt.date(2025, 9, 10), waiting_months=3) == dt.date(
        2025, 12, 9
    )


def test_seed_03_waiting_student_gets_the_account_the_day_after_the_waiting_period():
    # "有待遇等待期新生，期满后的次日，…申请建立 2025 年度居民医保账号，待遇享受期为医保建账后次日—
    # 2025 年 12 月 31 日"; "有待遇等待期的新生，可于等待期满后的次日 9:00 后申领医保码"
    period = benefit_period(
        enrollment_year=2025,
        registration_date=dt.date(2025, 9, 1),
        confirmed_on=dt.date(2025, 9, 10),
        waiting_months=LOCAL_WAITING_RULE.months(1),
    )
    assert period.waiting_until == dt.date(2025, 12, 9)
    assert period.account_on == dt.date(2025, 12, 10)
    assert period.voucher_from == dt.datetime(2025, 12, 10, 9, 0)
    assert (period.start, period.end) == (dt.date(2025, 12, 11), dt.date(2025, 12, 31))
    assert period.within_year


def test_national_rule_leaves_a_september_confirmation_waiting_into_january():
    period = benefit_period(
        enrollment_year=2025,
        registration_date=dt.date(2025, 9, 1),
        confirmed_on=dt.date(2025, 9, 10),
        waiting_months=NATIONAL_WAITING_RULE.months(1),
    )
    assert period.waiting_until == dt.date(2026, 1, 9)
    assert not period.within_year


def test_waiting_period_past_year_end_leaves_no_benefits_this_year():
    period = benefit_period(
        enrollment_year=2026,
        registration_date=dt.date(2026, 9, 1),
        confirmed_on=dt.date(2026, 11, 28),
        waiting_months=3,
    )
    assert period.waiting_until == dt.date(2027, 2, 27)
    assert period.account_on == dt.date(2027, 2, 28)
    assert not period.within_year


def test_hangzhou_starts_everyone_on_1_september():
    # Seed 05 Q6: "2023年10月31日前参保缴费的学生，待遇从9月1日起"
    period = benefit_period(
        enrollment_year=2023,
        registration_date=dt.date(2023, 9, 15),
        confirmed_on=dt.date(2023, 9, 20),
        waiting_months=0,
        start_rule=START_FROM_SEPTEMBER,
    )
    assert period.start == dt.date(2023, 9, 1)


def test_add_months_clamps_to_month_end():
    assert add_months(dt.date(2026, 10, 31), 4) == dt.date(2027, 2, 28)
    assert add_months(dt.date(2027, 11, 30), 3) == dt.date(2028, 2, 29)
