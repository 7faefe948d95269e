"""Property: whatever rows and cells a file holds, the importer reports and never crashes, and
it never stores a row it reported as invalid (issue 8)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrollment import rules
from enrollment.demo import demo_rows, roster_workbook
from enrollment.importer import RosterRefused, roster_import
from enrollment.models import StudentRecord

pytestmark = pytest.mark.django_db

# Text openpyxl can write (no control characters or lone surrogates), with the characters real
# files carry: full-width forms, ideographic spaces, middle dots, digits, X.
_text = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs", "Cc")),
        st.sampled_from("0123456789Xx　 ·•＊（）()-＋=@０１２"),
    ),
    max_size=40,
)
_cell = st.one_of(
    st.none(),
    _text,
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2100, 1, 1)),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2100, 1, 1)),
)


@st.composite
def rosters(draw):
    """Mostly valid rows with some cells replaced by anything, some rows repeated."""
    year = dt.date.today().year
    count = draw(st.integers(min_value=1, max_value=6))
    base = demo_rows(count, school_code="1012", campus_codes=["101200", "101201"], year=year)
    rows: list[dict[str, object]] = []
    for row in base:
        row = dict(row)
        for header in draw(st.lists(st.sampled_from(rules.HEADERS), max_size=4)):
            row[header] = draw(_cell)
        rows.append(row)
    if draw(st.booleans()):
        rows.append(dict(draw(st.sampled_from(rows))))  # a duplicate
    return rows


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=rosters())
def test_importer_never_crashes_and_never_stores_a_row_it_reported(
    rows, school_1012, city_admin, year
):
    content = roster_workbook(rows)
    with transaction.atomic():
        try:
            result = roster_import(
                content=content, school=school_1012, year=year, user=city_admin, commit=True
            )
        except RosterRefused:
            transaction.set_rollback(True)
            return
        bad_rows = {error.row for error in result.errors}
        stored = set(StudentRecord.objects.values_list("id_number", "student_number"))
        for number, row in enumerate(rows, start=2):
            if number in bad_rows:
                key = (
                    rules.normalize_id_number(row["证件号码"]),
                    rules.normalize_text(row["学号"]),
                )
                assert key not in stored, f"row {number} was reported invalid but stored"
        assert len(stored) == result.valid == result.inserted
        for record in StudentRecord.objects.all():  # what is stored passes the rules again
            context = rules.RowContext(
                school_code="1012",
                enrollment_year=year,
                school_campuses=frozenset({"101200", "101201"}),
                fileable_campuses=frozenset({"101200", "101201"}),
                today=dt.date.today(),
            )
            assert rules.validate_row(record.template_values(), context).is_valid
        transaction.set_rollback(True)
