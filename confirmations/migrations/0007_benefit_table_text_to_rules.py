"""Turn each policy year's free-text benefit table (JSON rows of text) into BenefitRule lines.

The only text any code wrote was the seeds' table (the old DEFAULT_BENEFITS); an administrator
may have edited its numbers in the raw JSON. The rows are read by their shape, number by number;
a row this cannot read stops the migration with the year and the row, rather than guess a
percentage (fix or empty the JSON in the admin, then migrate again). An empty table gives no
lines: the administrator fills them in the admin's form.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django.db import migrations

LEVELS = {"一": "1", "二": "2", "三": "3"}
LEVEL_NAMES = {"1": "一级", "2": "二级", "3": "三级"}
NUMBER = r"(\d+(?:\.\d+)?)"


class UnreadableBenefitTable(ValueError):
    pass


def _per_level(text: str, unit: str) -> dict[str, Decimal]:
    return {
        LEVELS[level]: Decimal(value)
        for level, value in re.findall(rf"([一二三])级\s*{NUMBER}\s*{unit}", text)
    }


def _single(text: str, unit: str) -> Decimal | None:
    found = re.findall(rf"{NUMBER}\s*{unit}", text)
    return Decimal(found[0]) if len(found) == 1 else None


def parse_legacy_table(table: dict) -> tuple[list[dict], dict[str, Decimal]]:
    """The rules and serious-illness shares a legacy text table states.

    Returns (rules as field dicts, {"serious_illness_percent": …, …}). Raises
    UnreadableBenefitTable naming the row when a row's numbers cannot be read.
    """
    rules: list[dict] = []
    shares: dict[str, Decimal] = {}
    for number, row in enumerate(table.get("rows") or [], start=1):
        cells = [str(cell) for cell in row] + ["", "", ""]
        title, deductible_text, share_text = cells[:3]
        if "大病" in title:
            general = _single(share_text.split("（")[0], "%")
            low_income = re.search(rf"(?:低保|低收入)[^0-9]*{NUMBER}\s*%", share_text)
            if general is None:
                raise UnreadableBenefitTable(f"row {number}: {row}")
            shares["serious_illness_percent"] = general
            if low_income:
                shares["serious_illness_low_income_percent"] = Decimal(low_income.group(1))
            continue
        if "校内" in title:
            kind, scope = "campus_clinic", "year"
        elif "住院" in title:
            kind, scope = "inpatient", "stay"
        elif "门" in title or "急" in title:
            kind, scope = "outpatient", "year"
        else:
            raise UnreadableBenefitTable(f"row {number}: {row}")
        level_shares = _per_level(share_text, "%")
        if not level_shares:
            single_share = _single(share_text, "%")
            if single_share is None:
                raise UnreadableBenefitTable(f"row {number}: {row}")
            level_shares = {"any": single_share}
        if "不设" in deductible_text:
            deductibles = dict.fromkeys(level_shares, Decimal(0))
        else:
            deductibles = _per_level(deductible_text, "元")
            if not deductibles:
                single_deductible = _single(deductible_text, "元")
                if single_deductible is None:
                    raise UnreadableBenefitTable(f"row {number}: {row}")
                deductibles = dict.fromkeys(level_shares, single_deductible)
        if set(deductibles) != set(level_shares):
            raise UnreadableBenefitTable(f"row {number}: {row}")
        for level, share in level_shares.items():
            rules.append(
                {
                    "visit_kind": kind,
                    "hospital_level": level,
                    "deductible": deductibles[level],
                    "deductible_scope": scope,
                    "fund_share_percent": share,
                }
            )
    return rules, shares


def text_to_rules(apps, schema_editor):
    PolicyYear = apps.get_model("confirmations", "PolicyYear")
    BenefitRule = apps.get_model("confirmations", "BenefitRule")
    for year in PolicyYear.objects.all():
        try:
            rules, shares = parse_legacy_table(year.benefit_table or {})
        except UnreadableBenefitTable as unreadable:
            raise UnreadableBenefitTable(
                f"policy year {year.enrollment_year}: cannot read the benefit table's {unreadable}; "
                "correct or empty it in the admin, then migrate again"
            ) from None
        BenefitRule.objects.bulk_create(BenefitRule(policy_year=year, **rule) for rule in rules)
        for field, value in shares.items():
            setattr(year, field, value)
        year.save(update_fields=list(shares))


def rules_to_text(apps, schema_editor):
    """Backwards: write the lines back as text rows, as the old result page showed them."""
    PolicyYear = apps.get_model("confirmations", "PolicyYear")
    titles = {"campus_clinic": "校内门诊", "outpatient": "校外门急诊", "inpatient": "住院（每次）"}
    for year in PolicyYear.objects.all():
        rows = []
        for kind, title in titles.items():
            lines = list(year.benefit_rules.filter(visit_kind=kind).order_by("hospital_level"))
            if not lines:
                continue
            rows.append(
                [
                    title,
                    "，".join(
                        f"{LEVEL_NAMES.get(r.hospital_level, '')} {r.deductible.normalize():f} 元".strip()
                        for r in lines
                    ),
                    "，".join(
                        f"{LEVEL_NAMES.get(r.hospital_level, '')} {r.fund_share_percent.normalize():f}%".strip()
                        for r in lines
                    ),
                ]
            )
        rows.append(
            [
                "大病保险",
                "居民医保结算后个人自负部分",
                f"再报销 {year.serious_illness_percent.normalize():f}%"
                f"（低保、低收入家庭 {year.serious_illness_low_income_percent.normalize():f}%）",
            ]
        )
        year.benefit_table = {"rows": rows}
        year.save(update_fields=["benefit_table"])
        year.benefit_rules.all().delete()  # so that migrating forward again reads the text


class Migration(migrations.Migration):
    dependencies = [
        ("confirmations", "0006_benefit_rules_and_questions"),
    ]

    operations = [migrations.RunPython(text_to_rules, rules_to_text)]
