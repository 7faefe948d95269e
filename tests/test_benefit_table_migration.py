"""The data migration that reads the old free-text benefit table into structured lines."""

from __future__ import annotations

import importlib
from decimal import Decimal
from pathlib import Path

import pytest

import confirmations.migrations

# Found by name, not number: the lead renumbers migrations at merge.
_MIGRATION = next(
    Path(confirmations.migrations.__file__).parent.glob("*_benefit_table_text_to_rules.py")
)
migration = importlib.import_module(f"confirmations.migrations.{_MIGRATION.stem}")

# What every policy year held before (the old DEFAULT_BENEFITS, from the seeds).
OLD_TABLE = {
    "premium_note": "本年度个人免缴，承诺参加下一年度居民医保并按规定缴费",
    "rows": [
        ["校内门诊", "不设起付线", "基金支付 80%"],
        ["校外门急诊", "起付线 300 元/年", "一级 70%，二级 60%，三级 50%"],
        [
            "住院（每次）",
            "起付标准 一级 50 元，二级 100 元，三级 300 元",
            "一级 80%，二级 75%，三级 60%",
        ],
        ["大病保险", "居民医保结算后个人自负部分", "再报销 60%（低保、低收入家庭 65%）"],
    ],
}


def lines(rules):
    return {
        (r["visit_kind"], r["hospital_level"]): (
            r["deductible"],
            r["deductible_scope"],
            r["fund_share_percent"],
        )
        for r in rules
    }


def test_old_table_becomes_the_seeds_seven_lines_and_serious_illness_shares():
    from demo.policy import SHANGHAI_BENEFIT_TABLE

    rules, shares = migration.parse_legacy_table(OLD_TABLE)
    assert lines(rules) == {
        (r.visit_kind, r.hospital_level): (r.deductible, r.deductible_scope, r.fund_share)
        for r in SHANGHAI_BENEFIT_TABLE.rules
    }
    assert shares == {
        "serious_illness_percent": Decimal(60),
        "serious_illness_low_income_percent": Decimal(65),
    }


def test_numbers_an_administrator_edited_are_kept():
    edited = {"rows": [["校外门急诊", "起付线 350 元/年", "一级 72.5%，二级 60%，三级 50%"]]}
    rules, _ = migration.parse_legacy_table(edited)
    assert lines(rules)[("outpatient", "1")] == (Decimal(350), "year", Decimal("72.5"))


def test_empty_table_gives_no_lines():
    assert migration.parse_legacy_table({}) == ([], {})


def test_unreadable_row_stops_the_migration_instead_of_guessing():
    with pytest.raises(migration.UnreadableBenefitTable, match="row 1"):
        migration.parse_legacy_table({"rows": [["校外门急诊", "起付线三百元", "六成"]]})
