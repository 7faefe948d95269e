"""What the fund pays for one visit, from one policy year's benefit table (domain.md §7).

Pure functions over typed values; money is Decimal, rounded to the fen (0.01 元, half up). Every
number comes from the table (`BenefitTable`), which the policy year keeps as data: another city's
or another year's table changes the answers without code.

How the seeds' table is read here:

- On-campus clinic (校内门诊): no deductible, the fund pays 80 % (seed 01 line 526; seed 02
  lines 209–211; seed 03 lines 57–59).
- Off-campus outpatient and emergency (校外门急诊): one deductible of 300 元 a year, accumulated over
  the year's off-campus visits ("年累计超过起付线以上的部分", seed 02 lines 102–110; seed 03 lines
  61–67); above it the fund pays 70 / 60 / 50 % by hospital level. The on-campus clinic's visits do
  not count towards it: the clinic has its own row with a deductible of 0.
- Inpatient (住院): a deductible per stay of 50 / 100 / 300 元 by level, then 80 / 75 / 60 % (seed 01
  lines 531–534 "元/次"; seed 02 lines 112–122 "每次住院"; seed 03 lines 69–75). Seed 02 lines 206–207
  write the inpatient deductibles as "元/年" in its answer to the 220 元 question; the three tables
  say per stay, and so does this module.
- Serious illness (大病): "在居民医保结算后，个人自负的部分可由大病保险资金再报销60%，本市低保、低收入
  家庭成员再报销65%" (seed 01 lines 536 and 756; seed 02 lines 137–143). Read as:
  * it applies only to the listed treatments (seed 01 line 756: dialysis for uraemia, anti-rejection
    treatment after a kidney transplant, cancer treatment, the listed mental illnesses, haemophilia,
    aplastic anaemia), for covered costs at this city's designated institutions, within the benefit
    period (seed 01 line 754). The student says whether the treatment is one of them. The seeds
    name no kind of visit, and most of these treatments are outpatient (dialysis, chemotherapy),
    so all three kinds qualify;
  * its base is everything the student pays of the covered costs after the resident insurance has
    settled, the part under the deductible included: seed 03 line 41 calls the deductible band
    "自负段" (the self-paid band), so it is part of "个人自负", not only the percentage share;
  * the seeds give no cap; seed 02 lines 70–72 only say that the cap is lowered by the years
    without coverage for re-insured people, without a number. None is applied; the page says the
    chosen insurer settles the claim (seed 01 line 758).
- Coverage by date (the student's own benefit period, when known): a visit inside a waiting period
  is not covered (seed 03 lines 217–221); nor is one before the benefit period starts or after it
  ends. A visit inside the period but before the account could be used (paid in cash) is covered
  afterwards: refund and re-settlement at the campus clinic, 零星报销 within 6 months of the
  receipt off campus (seed 01 lines 620 and 628).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import models

from confirmations.benefits import BenefitPeriod, add_months

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
ZERO = Decimal(0)


class VisitKind(models.TextChoices):
    CAMPUS_CLINIC = "campus_clinic", "校内门诊"
    OUTPATIENT = "outpatient", "校外门急诊"
    INPATIENT = "inpatient", "住院"


class HospitalLevel(models.TextChoices):
    ANY = "any", "不分级别"
    LEVEL_1 = "1", "一级医院"
    LEVEL_2 = "2", "二级医院"
    LEVEL_3 = "3", "三级医院"


class DeductibleScope(models.TextChoices):
    PER_YEAR = "year", "每年累计"
    PER_STAY = "stay", "每次住院（就诊）"


class Coverage(models.TextChoices):
    UNKNOWN = "unknown", "按待遇享受期内就诊计算"  # the student's own dates are not known
    COVERED = "covered", "在待遇享受期内"
    CLAIM = "claim", "在待遇享受期内，但在账户可用之前"
    WAITING = "waiting", "在待遇等待期内"
    BEFORE_START = "before_start", "在待遇享受期开始之前"
    AFTER_END = "after_end", "在待遇享受期结束之后"


NOT_COVERED = {Coverage.WAITING, Coverage.BEFORE_START, Coverage.AFTER_END}


@dataclass(frozen=True)
class Rule:
    """One line of the table: a kind of visit at a hospital level (or any level)."""

    visit_kind: str
    hospital_level: str
    deductible: Decimal
    deductible_scope: str
    fund_share: Decimal  # percent of the covered costs above the deductible
    note: str = ""

    @property
    def personal_share(self) -> Decimal:
        return HUNDRED - self.fund_share

    @property
    def kind_label(self) -> str:
        return VisitKind(self.visit_kind).label

    @property
    def level_label(self) -> str:
        return HospitalLevel(self.hospital_level).label


@dataclass(frozen=True)
class BenefitTable:
    rules: tuple[Rule, ...]
    serious_illness_share: Decimal  # percent of the personal part, after the resident insurance
    serious_illness_low_income_share: Decimal
    claim_months: int = 6  # 零星报销: months from the receipt to claim a cash-paid visit

    def rule_for(self, visit_kind: str, hospital_level: str | None) -> Rule | None:
        """The exact level's line, or the kind's line that applies to every level."""
        candidates = [r for r in self.rules if r.visit_kind == visit_kind]
        for level in (hospital_level, HospitalLevel.ANY):
            found = next((r for r in candidates if r.hospital_level == level), None)
            if found is not None:
                return found
        return None

    def visit_kinds(self) -> list[str]:
        """The kinds of visit the table covers, in the order the seeds list them."""
        present = {r.visit_kind for r in self.rules}
        return [kind for kind in VisitKind.values if kind in present]

    def needs_level(self, visit_kind: str) -> bool:
        return self.rule_for(visit_kind, HospitalLevel.ANY) is None

    def serious_illness_share_for(self, *, low_income: bool) -> Decimal:
        if low_income:
            return self.serious_illness_low_income_share
        return self.serious_illness_share


@dataclass(frozen=True)
class Visit:
    visit_kind: str
    hospital_level: str | None
    covered_costs: Decimal  # 符合医保规定的费用 of this visit (or bill)
    # Already counted towards this kind's deductible: this year (outpatient), or this stay.
    deductible_paid: Decimal = ZERO
    serious_illness: bool = False  # one of the treatments the serious-illness insurance lists
    low_income: bool = False  # member of a 低保 or 低收入 family of this city
    on: dt.date | None = None


@dataclass(frozen=True)
class Estimate:
    visit: Visit
    rule: Rule
    coverage: Coverage
    deductible_remaining_before: Decimal
    toward_deductible: Decimal  # this visit's costs that fill the deductible (the student pays)
    deductible_remaining_after: Decimal
    above_deductible: Decimal
    fund_pays: Decimal
    share_after_deductible: Decimal  # the student's percentage share of the part above it
    serious_illness_share: Decimal | None  # percent applied, when the top-up applies
    serious_illness_base: Decimal  # what the student would pay after the resident insurance
    serious_illness_pays: Decimal
    student_pays: Decimal
    claim_by: dt.date | None  # last day to claim a cash-paid visit (零星报销), when one is needed

    @property
    def covered(self) -> bool:
        return self.coverage not in NOT_COVERED


class NoRule(ValueError):
    """The table has no line for this kind of visit at this level."""


def money(value: Decimal) -> Decimal:
    # + 0 turns a typed "-0" into 0, so no page prints "-0 元".
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP) + 0


def coverage_on(day: dt.date | None, period: BenefitPeriod | None) -> Coverage:
    """Whether a visit on `day` falls inside the student's own benefit period."""
    if day is None or period is None:
        return Coverage.UNKNOWN
    if day < period.start:
        if period.waiting_until is not None and day <= period.waiting_until:
            return Coverage.WAITING
        return Coverage.BEFORE_START
    if day > period.end:
        return Coverage.AFTER_END
    if day < period.voucher_from.date():
        return Coverage.CLAIM
    return Coverage.COVERED


def estimate(*, table: BenefitTable, visit: Visit, period: BenefitPeriod | None = None) -> Estimate:
    """What the fund, the serious-illness insurance and the student pay for one visit."""
    rule = table.rule_for(visit.visit_kind, visit.hospital_level)
    if rule is None:
        raise NoRule(f"no rule for {visit.visit_kind} at level {visit.hospital_level}")
    costs = money(visit.covered_costs)
    paid = money(visit.deductible_paid)
    if costs < 0 or paid < 0:
        raise ValueError("amounts cannot be negative")
    remaining_before = max(ZERO, money(rule.deductible) - paid)
    coverage = coverage_on(visit.on, period)
    if coverage in NOT_COVERED:
        # Costs outside the benefit period are the student's own and fill no deductible.
        toward = above = fund = ZERO
        top_up_share = None
    else:
        toward = min(costs, remaining_before)
        above = costs - toward
        fund = money(above * rule.fund_share / HUNDRED)
        top_up_share = (
            table.serious_illness_share_for(low_income=visit.low_income)
            if visit.serious_illness
            else None
        )
    share = above - fund
    base = toward + share
    top_up = money(base * top_up_share / HUNDRED) if top_up_share is not None else ZERO
    return Estimate(
        visit=visit,
        rule=rule,
        coverage=coverage,
        deductible_remaining_before=remaining_before,
        toward_deductible=toward,
        deductible_remaining_after=remaining_before - toward,
        above_deductible=above,
        fund_pays=fund,
        share_after_deductible=share,
        serious_illness_share=top_up_share,
        serious_illness_base=base,
        serious_illness_pays=top_up,
        student_pays=costs - fund - top_up,
        claim_by=_claim_by(visit, coverage, table.claim_months),
    )


def _claim_by(visit: Visit, coverage: Coverage, claim_months: int) -> dt.date | None:
    """Off campus, a cash-paid visit is claimed within N months of the receipt (seed 01 l. 620)."""
    if coverage != Coverage.CLAIM or visit.visit_kind == VisitKind.CAMPUS_CLINIC:
        return None
    return add_months(visit.on, claim_months) - dt.timedelta(days=1)


@dataclass(frozen=True)
class Section:
    """The lines of one kind of visit, as the student's pages show them."""

    visit_kind: str
    label: str
    rules: tuple[Rule, ...]
    deductible_scope: str
    common_deductible: Decimal | None  # the same for every level (else shown per line)


def table_sections(table: BenefitTable) -> list[Section]:
    levels = HospitalLevel.values
    sections = []
    for kind in table.visit_kinds():
        rules = tuple(
            sorted(
                (r for r in table.rules if r.visit_kind == kind),
                key=lambda r: levels.index(r.hospital_level),
            )
        )
        deductibles = {r.deductible for r in rules}
        sections.append(
            Section(
                visit_kind=kind,
                label=VisitKind(kind).label,
                rules=rules,
                deductible_scope=rules[0].deductible_scope,
                common_deductible=deductibles.pop() if len(deductibles) == 1 else None,
            )
        )
    return sections


def table_problems(rules: list[Rule]) -> list[str]:
    """What makes a table ambiguous for the estimator, as messages for the city administrator."""
    problems = []
    for kind in VisitKind:
        lines = [r for r in rules if r.visit_kind == kind]
        if not lines:
            continue
        levels = [r.hospital_level for r in lines]
        if HospitalLevel.ANY in levels and len(lines) > 1:
            problems.append(
                f"{kind.label}：要么只填一行「不分级别」，要么按一级、二级、三级医院分别填写，不能混用。"
            )
        if len({r.deductible_scope for r in lines}) > 1:
            problems.append(f"{kind.label}：各行的起付线计算方式应一致。")
        elif lines[0].deductible_scope == DeductibleScope.PER_YEAR and (
            len({r.deductible for r in lines}) > 1
        ):
            problems.append(
                f"{kind.label}：起付线按年累计，是全年共用的一个金额，各级医院应填写相同的起付线。"
            )
    return problems
