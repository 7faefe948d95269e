"""The estimator's arithmetic against the seeds' worked examples (domain.md §7), without a database.

Each test works the example by hand in its comment from Shanghai's table (demo/policy.py, cited
to the seeds there): on-campus 0 deductible then 80 %; off-campus outpatient 300 元 a year then
70 / 60 / 50 %; inpatient 50 / 100 / 300 元 per stay then 80 / 75 / 60 %; serious illness 60 %
(65 % for low-income families) of what the student pays after the resident insurance.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from confirmations.benefits import BenefitPeriod
from confirmations.estimator import (
    BenefitTable,
    Coverage,
    DeductibleScope,
    HospitalLevel,
    NoRule,
    Rule,
    Visit,
    VisitKind,
    coverage_on,
    estimate,
    table_problems,
    table_sections,
)
from demo.policy import SHANGHAI_BENEFIT_TABLE as SHANGHAI

D = Decimal
OUTPATIENT, INPATIENT, CAMPUS = VisitKind.OUTPATIENT, VisitKind.INPATIENT, VisitKind.CAMPUS_CLINIC
L1, L2, L3 = HospitalLevel.LEVEL_1, HospitalLevel.LEVEL_2, HospitalLevel.LEVEL_3


def visit(kind, level, costs, paid="0", **kwargs) -> Visit:
    return Visit(kind, level, D(costs), D(paid), **kwargs)


def test_first_220_yuan_off_campus_visit_is_all_under_the_300_deductible():
    # Seed 02 question 8: 220 ≤ 300 still to go → all 220 fills the deductible, fund 0, 80 left.
    result = estimate(table=SHANGHAI, visit=visit(OUTPATIENT, L2, "220"))
    assert result.toward_deductible == D("220")
    assert result.deductible_remaining_after == D("80")
    assert (result.fund_pays, result.student_pays) == (D("0"), D("220"))


def test_1000_yuan_at_a_level_2_hospital_after_300_spent_is_60_percent_from_the_fund():
    # Deductible met (300 − 300 = 0) → 1,000 above it × 60 % = 600 fund, 400 the student.
    result = estimate(table=SHANGHAI, visit=visit(OUTPATIENT, L2, "1000", paid="300"))
    assert result.deductible_remaining_before == D("0")
    assert result.above_deductible == D("1000")
    assert (result.fund_pays, result.student_pays) == (D("600.00"), D("400.00"))


def test_visit_that_crosses_the_deductible_pays_the_share_only_above_it():
    # Level 1, 200 already: 100 still to go; 1,000 − 100 = 900 × 70 % = 630 fund; 370 the student.
    result = estimate(table=SHANGHAI, visit=visit(OUTPATIENT, L1, "1000", paid="200"))
    assert (result.toward_deductible, result.above_deductible) == (D("100"), D("900"))
    assert (result.fund_pays, result.student_pays) == (D("630.00"), D("370.00"))


def test_level_3_outpatient_pays_half_above_the_deductible():
    # 500 with 300 already spent → 500 × 50 % = 250 each.
    result = estimate(table=SHANGHAI, visit=visit(OUTPATIENT, L3, "500", paid="300"))
    assert (result.fund_pays, result.student_pays) == (D("250.00"), D("250.00"))


def test_more_spent_than_the_deductible_counts_as_met():
    # A student who types the whole year's spending (1,200) has met the 300 deductible.
    result = estimate(table=SHANGHAI, visit=visit(OUTPATIENT, L2, "100", paid="1200"))
    assert result.deductible_remaining_before == D("0")
    assert result.fund_pays == D("60.00")


def test_inpatient_stay_at_a_level_3_hospital_pays_300_then_60_percent():
    # 10,000: 300 per stay to the student, 9,700 × 60 % = 5,820 fund; 300 + 3,880 = 4,180 student.
    result = estimate(table=SHANGHAI, visit=visit(INPATIENT, L3, "10000"))
    assert result.rule.deductible_scope == DeductibleScope.PER_STAY
    assert (result.toward_deductible, result.above_deductible) == (D("300"), D("9700"))
    assert (result.fund_pays, result.student_pays) == (D("5820.00"), D("4180.00"))


def test_inpatient_deductible_is_per_stay_not_reduced_by_outpatient_spending():
    # Level 1 stay of 1,050: 50 deductible, 1,000 × 80 % = 800 fund, 250 student.
    result = estimate(table=SHANGHAI, visit=visit(INPATIENT, L1, "1050"))
    assert (result.fund_pays, result.student_pays) == (D("800.00"), D("250.00"))


def test_second_bill_of_the_same_stay_counts_what_the_stay_already_paid():
    # Level 2 stay, 100 already paid this stay: 400 × 75 % = 300 fund, 100 student.
    result = estimate(table=SHANGHAI, visit=visit(INPATIENT, L2, "400", paid="100"))
    assert (result.fund_pays, result.student_pays) == (D("300.00"), D("100.00"))


def test_on_campus_clinic_has_no_deductible_and_pays_80_percent():
    # 100 at the campus clinic: 0 deductible, 100 × 80 % = 80 fund, 20 student, at any level.
    result = estimate(table=SHANGHAI, visit=visit(CAMPUS, None, "100"))
    assert result.rule.hospital_level == HospitalLevel.ANY
    assert (result.toward_deductible, result.fund_pays, result.student_pays) == (
        D("0"),
        D("80.00"),
        D("20.00"),
    )


def test_serious_illness_tops_up_60_percent_of_what_the_student_pays_after_the_insurance():
    # The 10,000 level-3 stay: the student's 4,180 (300 deductible + 3,880 share) × 60 % = 2,508;
    # the student pays 4,180 − 2,508 = 1,672.
    result = estimate(table=SHANGHAI, visit=visit(INPATIENT, L3, "10000", serious_illness=True))
    assert result.serious_illness_share == D("60")
    assert result.serious_illness_base == D("4180.00")
    assert (result.serious_illness_pays, result.student_pays) == (D("2508.00"), D("1672.00"))


def test_serious_illness_tops_up_65_percent_for_low_income_families():
    # 4,180 × 65 % = 2,717; the student pays 1,463.
    result = estimate(
        table=SHANGHAI,
        visit=visit(INPATIENT, L3, "10000", serious_illness=True, low_income=True),
    )
    assert (result.serious_illness_pays, result.student_pays) == (D("2717.00"), D("1463.00"))


def test_serious_illness_top_up_includes_the_outpatient_deductible_band():
    # Dialysis, first off-campus visit, 220: all under the deductible (自负段) → 220 × 60 % = 132.
    result = estimate(table=SHANGHAI, visit=visit(OUTPATIENT, L2, "220", serious_illness=True))
    assert result.fund_pays == D("0")
    assert (result.serious_illness_pays, result.student_pays) == (D("132.00"), D("88.00"))


def test_low_income_alone_changes_nothing_without_a_serious_illness():
    result = estimate(table=SHANGHAI, visit=visit(INPATIENT, L3, "10000", low_income=True))
    assert result.serious_illness_share is None
    assert result.student_pays == D("4180.00")


def test_shares_round_to_the_fen_half_up():
    # 0.05 above a met deductible at 50 % = 0.025 → 0.03 fund, 0.02 student.
    result = estimate(table=SHANGHAI, visit=visit(OUTPATIENT, L3, "0.05", paid="300"))
    assert (result.fund_pays, result.student_pays) == (D("0.03"), D("0.02"))


PERIOD = BenefitPeriod(
    start=dt.date(2026, 9, 1),
    end=dt.date(2026, 12, 31),
    waiting_until=None,
    voucher_from=dt.datetime(2026, 9, 11, 9, 0),
)
WAITING = BenefitPeriod(
    start=dt.date(2026, 12, 10),
    end=dt.date(2026, 12, 31),
    waiting_until=dt.date(2026, 12, 9),
    voucher_from=dt.datetime(2026, 12, 10, 9, 0),
)


def test_visit_inside_the_waiting_period_is_not_covered_and_fills_no_deductible():
    result = estimate(
        table=SHANGHAI, visit=visit(OUTPATIENT, L2, "1000", on=dt.date(2026, 11, 1)), period=WAITING
    )
    assert result.coverage == Coverage.WAITING and not result.covered
    assert (result.fund_pays, result.toward_deductible, result.student_pays) == (
        D("0"),
        D("0"),
        D("1000.00"),
    )


def test_visit_before_the_benefit_period_is_not_covered():
    result = estimate(
        table=SHANGHAI, visit=visit(CAMPUS, None, "100", on=dt.date(2026, 8, 28)), period=PERIOD
    )
    assert result.coverage == Coverage.BEFORE_START
    assert result.student_pays == D("100.00")


def test_visit_after_31_december_is_outside_this_years_period():
    result = estimate(
        table=SHANGHAI, visit=visit(CAMPUS, None, "100", on=dt.date(2027, 1, 2)), period=PERIOD
    )
    assert result.coverage == Coverage.AFTER_END and not result.covered


def test_cash_paid_off_campus_visit_before_the_account_is_claimed_within_6_months():
    # Registered 1 Sept, account usable 11 Sept: a visit on 5 Sept is covered, by 零星报销
    # within 6 months of the receipt: up to 4 March 2027.
    result = estimate(
        table=SHANGHAI,
        visit=visit(OUTPATIENT, L2, "1000", paid="300", on=dt.date(2026, 9, 5)),
        period=PERIOD,
    )
    assert result.coverage == Coverage.CLAIM and result.covered
    assert result.fund_pays == D("600.00")
    assert result.claim_by == dt.date(2027, 3, 4)


def test_cash_paid_campus_clinic_visit_is_re_settled_not_claimed():
    result = estimate(
        table=SHANGHAI, visit=visit(CAMPUS, None, "100", on=dt.date(2026, 9, 5)), period=PERIOD
    )
    assert result.coverage == Coverage.CLAIM
    assert result.claim_by is None and result.fund_pays == D("80.00")


def test_visit_once_the_voucher_can_be_claimed_is_simply_covered():
    assert coverage_on(dt.date(2026, 9, 11), PERIOD) == Coverage.COVERED


def test_without_the_students_dates_the_estimate_assumes_the_period():
    assert coverage_on(dt.date(2026, 9, 5), None) == Coverage.UNKNOWN
    assert estimate(table=SHANGHAI, visit=visit(CAMPUS, None, "100")).covered


def test_another_citys_table_changes_the_answer_without_code():
    # A made-up table with the shape of seed 05's (Hangzhou): a 300 deductible waived at the
    # school hospital, 90 % there; the numbers are illustrative, the point is that only data moved.
    other = BenefitTable(
        rules=(
            Rule(CAMPUS, HospitalLevel.ANY, D(0), DeductibleScope.PER_YEAR, D(90)),
            Rule(OUTPATIENT, HospitalLevel.ANY, D(300), DeductibleScope.PER_YEAR, D(75)),
        ),
        serious_illness_share=D(50),
        serious_illness_low_income_share=D(50),
    )
    assert estimate(table=other, visit=visit(CAMPUS, None, "100")).fund_pays == D("90.00")
    # 1,000 with 300 spent: 1,000 × 75 % = 750 (Shanghai's level 2 would give 600).
    assert estimate(table=other, visit=visit(OUTPATIENT, L2, "1000", "300")).fund_pays == D(
        "750.00"
    )


def test_a_level_the_table_does_not_have_is_refused():
    only_level_1 = replace(SHANGHAI, rules=SHANGHAI.rules[:2])
    with pytest.raises(NoRule):
        estimate(table=only_level_1, visit=visit(OUTPATIENT, L3, "100"))


def test_tiered_kinds_need_a_level_and_the_campus_clinic_does_not():
    assert SHANGHAI.needs_level(OUTPATIENT) and SHANGHAI.needs_level(INPATIENT)
    assert not SHANGHAI.needs_level(CAMPUS)


def test_sections_follow_the_seeds_order_with_a_common_outpatient_deductible():
    sections = table_sections(SHANGHAI)
    assert [s.visit_kind for s in sections] == [CAMPUS, OUTPATIENT, INPATIENT]
    assert sections[1].common_deductible == D(300)
    assert sections[2].common_deductible is None  # 50 / 100 / 300 per stay, shown per line
    assert [r.hospital_level for r in sections[2].rules] == [L1, L2, L3]


def test_seed_table_has_no_problems():
    assert table_problems(list(SHANGHAI.rules)) == []


def test_a_yearly_deductible_must_be_the_same_at_every_level():
    rules = list(SHANGHAI.rules)
    rules[1] = replace(rules[1], deductible=D(500))
    assert ["校外门急诊" in p and "相同的起付线" in p for p in table_problems(rules)] == [True]


def test_a_kind_cannot_mix_any_level_with_levels():
    rules = [
        *SHANGHAI.rules,
        Rule(INPATIENT, HospitalLevel.ANY, D(0), DeductibleScope.PER_STAY, D(1)),
    ]
    assert any("住院" in p and "不能混用" in p for p in table_problems(rules))


def test_a_kind_cannot_mix_deductible_scopes():
    rules = list(SHANGHAI.rules)
    rules[4] = replace(rules[4], deductible_scope=DeductibleScope.PER_YEAR)
    assert any("住院" in p and "计算方式" in p for p in table_problems(rules))
