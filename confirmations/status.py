"""A record's status on the activation list (是否激活), defined once and stored on the record.

The status of a record follows from three things: its own latest application; the person's
applications for the year through other records (at another school); and whether the person
has an account not made through this record. STATUS_Q says it as conditions on the rows of
`records_with_status_keys`; `statuses_refresh` classifies records by STATUS_Q and stores the
answer in `StudentRecord.activation_status`, which the lists, counts and reminders then read
through an index instead of asking the applications and accounts of 200,000 records.

Every write that can change a status calls `statuses_refresh` (or
`statuses_refresh_for_applications`) in its own transaction: an application submitted (both
channels, one call per batch chunk), its state changed (account created, waiting, failed,
retried), an account created, records inserted (the roster import, the admin), a record's ID
number or year edited. `refresh_statuses` (a management command) recomputes every record and
reports how many it corrected.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from django.db import connection, transaction
from django.db.models import Case, Exists, OuterRef, Q, QuerySet, Subquery, Value, When

from confirmations.models import Application, InsuranceAccount
from enrollment.models import StudentRecord

Activation = StudentRecord.Activation
STATUS_ACTIVATED = Activation.ACTIVATED.value
STATUS_WAITING = Activation.WAITING.value
STATUS_PENDING = Activation.PENDING.value
STATUS_FAILED = Activation.FAILED.value
STATUS_ELSEWHERE = Activation.ELSEWHERE.value
STATUS_UNCONFIRMED = Activation.UNCONFIRMED.value
STATUS_CHOICES = [(key, str(label)) for key, label in Activation.choices]
LIVE_STATES = [Application.State.PENDING, Application.State.WAITING, Application.State.CREATED]


def latest_application() -> QuerySet[Application]:
    """A record's applications, latest first (for `Subquery(...[:1])` on the record)."""
    return Application.objects.filter(record=OuterRef("pk")).order_by("-submitted_at", "-pk")


def records_with_status_keys(records: QuerySet[StudentRecord]) -> QuerySet[StudentRecord]:
    """Annotate what STATUS_Q reads: the state of the record's latest application
    (`app_state`); the state of the person's latest application for the year through another
    record (`elsewhere_state`); whether the person has an account not made through this
    record (`account_elsewhere`)."""
    elsewhere = (
        Application.objects.filter(
            id_number=OuterRef("id_number"),
            policy_year__enrollment_year=OuterRef("enrollment_year"),
        )
        .exclude(record=OuterRef("pk"))
        .order_by("-submitted_at", "-pk")
    )
    account_elsewhere = InsuranceAccount.objects.filter(id_number=OuterRef("id_number")).exclude(
        application__record=OuterRef("pk")
    )
    return records.annotate(
        app_state=Subquery(latest_application().values("state")[:1]),
        elsewhere_state=Subquery(elsewhere.values("state")[:1]),
        account_elsewhere=Exists(account_elsewhere),
    )


# One status per record, the same for the desk's columns, the activation list's filter, the
# failure list and the reminders: the columns add up to the roster.
_LIVE_ELSEWHERE = Q(elsewhere_state__in=LIVE_STATES)
_NOT_LIVE_ELSEWHERE = Q(elsewhere_state__isnull=True) | Q(elsewhere_state=Application.State.FAILED)
STATUS_Q = {
    # Nothing anywhere: no application for the year through any school, and no account.
    STATUS_UNCONFIRMED: Q(
        app_state__isnull=True, elsewhere_state__isnull=True, account_elsewhere=False
    ),
    # Done (or tried and failed) through another school, or an account already there; a
    # failure here that a later application elsewhere superseded counts there too.
    STATUS_ELSEWHERE: (
        Q(app_state__isnull=True) & (Q(elsewhere_state__isnull=False) | Q(account_elsewhere=True))
    )
    | (Q(app_state=Application.State.FAILED) & _LIVE_ELSEWHERE),
    STATUS_FAILED: Q(app_state=Application.State.FAILED) & _NOT_LIVE_ELSEWHERE,
    STATUS_ACTIVATED: Q(app_state=Application.State.CREATED),
    STATUS_WAITING: Q(app_state=Application.State.WAITING),
    STATUS_PENDING: Q(app_state=Application.State.PENDING),
}


def status_of(keys: dict[str, object]) -> str:
    """The status of a record from its `records_with_status_keys` values: the first STATUS_Q
    that holds, evaluated here on the fetched values, as the SQL CASE of `records_classified`
    evaluates it in the database (its SQL took 4.8 ms to build for each refresh, three times
    the query without it; tests check both agree)."""
    return next(
        (status for status, condition in STATUS_Q.items() if _holds(condition, keys)),
        STATUS_UNCONFIRMED,
    )


def _holds(condition: Q, keys: dict[str, object]) -> bool:
    """A Q of exact / isnull / in lookups on `keys`, with SQL's answers for NULL (a comparison
    with NULL does not hold). Negation is refused: SQL's NOT of an unknown is unknown, not
    true, and STATUS_Q needs none."""
    if condition.negated:
        raise ValueError("STATUS_Q is written without negation")
    answers = []
    for child in condition.children:
        if isinstance(child, Q):
            answers.append(_holds(child, keys))
            continue
        lookup, expected = child
        name, _, kind = lookup.partition("__")
        value = keys[name]
        if kind == "isnull":
            answers.append((value is None) == expected)
        elif kind == "in":
            answers.append(value is not None and value in expected)
        elif kind in ("", "exact"):
            answers.append(value is not None and value == expected)
        else:
            raise ValueError(f"unsupported lookup in STATUS_Q: {lookup}")
    return all(answers) if condition.connector == Q.AND else any(answers)


def records_classified(records: QuerySet[StudentRecord]) -> QuerySet[StudentRecord]:
    """Each record with `computed_status`: the STATUS_Q that holds for it, in SQL (the tests'
    check of the stored status; `_refresh` classifies fetched keys with `status_of`)."""
    return records_with_status_keys(records).annotate(
        computed_status=Case(
            *(When(condition, then=Value(status)) for status, condition in STATUS_Q.items()),
            default=Value(STATUS_UNCONFIRMED),
        )
    )


_KEYS = ("app_state", "elsewhere_state", "account_elsewhere")
# Records classified and written per statement: bounds the IN lists and the lock set.
REFRESH_CHUNK = 2000
# Up to this many people (a confirmation, an account, an edit) the classifying SELECT is cheap
# enough that PostgreSQL does not compile it (JIT); past it, _refresh turns JIT off first.
FEW_PEOPLE = 50


def statuses_refresh(*, id_numbers: Iterable[str]) -> int:
    """Store the status of every record of these people (all their schools and years) as
    STATUS_Q classifies it now; return how many records changed.

    By person, not by record: a confirmation at one school changes the person's record at
    another (elsewhere), and an account counts for every year (STATUS_Q's account half has no
    year). Call it in the transaction of the write. The people's records are locked first
    (PostgreSQL), so that two writes for one person classify one after the other, each seeing
    the other's committed change, rather than both from the state before either. Set-based:
    per REFRESH_CHUNK people, a lock, a classifying SELECT and an UPDATE per status changed.
    """
    people = sorted(set(id_numbers))
    changed = 0
    for start in range(0, len(people), REFRESH_CHUNK):
        chunk = people[start : start + REFRESH_CHUNK]
        changed += _refresh(Q(id_number__in=chunk), people=chunk)
    return changed


def statuses_refresh_for_new_records(*, id_numbers: Iterable[str]) -> int:
    """`statuses_refresh` after inserting records for these people (a roster import).

    A new record has no application of its own, so it is "unconfirmed" (the column's default)
    unless the person applied through another record or has an account: only those people are
    classified, found with one indexed lookup per REFRESH_CHUNK — a 50,000-row roster of
    freshmen nobody has confirmed yet costs 50 lookups, not 50,000 classifications.
    """
    people = sorted(set(id_numbers))
    known: set[str] = set()
    for start in range(0, len(people), REFRESH_CHUNK):
        chunk = people[start : start + REFRESH_CHUNK]
        known.update(
            Application.objects.filter(id_number__in=chunk).values_list("id_number", flat=True)
        )
        known.update(
            InsuranceAccount.objects.filter(id_number__in=chunk).values_list("id_number", flat=True)
        )
    return statuses_refresh(id_numbers=known)


def statuses_refresh_for_applications(*, applications: QuerySet[Application]) -> int:
    """`statuses_refresh` for the people of these applications: the ID number the application
    was made with, and its record's (they differ once the record's ID number was corrected)."""
    people = set()
    for pairs in applications.values_list("id_number", "record__id_number").iterator():
        people.update(pairs)
    return statuses_refresh(id_numbers=people)


def statuses_refresh_all(*, chunk: int = 5000) -> int:
    """Recompute every record's stored status, `chunk` records a statement (by primary key);
    return how many were wrong. A repair tool (`manage.py refresh_statuses`), and the backfill."""
    corrected = 0
    last = 0
    while True:
        keys = list(
            StudentRecord.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:chunk]
        )
        if not keys:
            return corrected
        corrected += _refresh(Q(pk__gte=keys[0], pk__lte=keys[-1]))
        last = keys[-1]


@functools.cache
def _keyed_records() -> QuerySet[StudentRecord]:
    """Every record's status keys, as `_refresh` reads them, built once per process: building
    the three subqueries cost as much Python as compiling them, on every confirmation. Each
    refresh filters a clone (never evaluated itself: nothing is cached in it)."""
    return records_with_status_keys(StudentRecord.objects.order_by()).values(
        "pk", "activation_status", *_KEYS
    )


# A confirmation, an account or an edit classifies one or two people: for up to this many, the
# classifying SELECT is compiled once per process and number of people. Compiling its three
# subqueries took 0.7 ms of the 0.8 ms of CPU the statement cost, on every confirmation.
COMPILED_PEOPLE = 4
_PERSON = "\x00person {}"  # stands for the n-th ID number among the compiled parameters


@functools.cache
def _classifying_sql(vendor: str, people: int) -> tuple[str, tuple]:
    """The SQL of `_keyed_records()` for `people` ID numbers, as the ORM compiles it, with a
    stand-in for each ID number among its parameters."""
    stand_ins = [_PERSON.format(n) for n in range(people)]
    query = _keyed_records().filter(id_number__in=stand_ins).query
    sql, params = query.get_compiler(connection=connection).as_sql()
    # Every other parameter is a constant of the query (states, never a time or a user's
    # value), so the compiled parameters can be reused; each stand-in must be there as given.
    if sorted(param for param in params if param in stand_ins) != sorted(stand_ins):
        raise RuntimeError("the classifying query no longer takes the ID numbers as given")
    return sql, tuple(params)


def _status_rows(condition: Q, people: Sequence[str]) -> Iterable[dict]:
    """The status keys of the records `condition` selects (those of `people`, when it selects
    by person): the ORM's rows, from its SQL compiled once for a few people."""
    if not 0 < len(people) <= COMPILED_PEOPLE:
        return _keyed_records().filter(condition)
    sql, params = _classifying_sql(connection.vendor, len(people))
    person = {_PERSON.format(n): id_number for n, id_number in enumerate(people)}
    with connection.cursor() as cursor:
        cursor.execute(sql, [person.get(param, param) for param in params])
        columns = [column[0] for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["account_elsewhere"] = bool(row["account_elsewhere"])  # SQLite answers 0 or 1
    return rows


def _refresh(condition: Q, *, people: Sequence[str] = ()) -> int:
    """Classify and store the records `condition` selects (`people`: the ID numbers it selects,
    when it selects by person; otherwise a range of records, many)."""
    records = StudentRecord.objects.filter(condition).order_by()
    many = not people or len(people) > FEW_PEOPLE
    with transaction.atomic(savepoint=False):
        if many and connection.vendor == "postgresql":
            # The classifying SELECT repeats its subqueries in each WHEN: its estimated cost
            # passes jit_above_cost, and compiling it took 1.1 s of a 1.2 s chunk (5,000
            # records) that runs in 40 ms without. For the rest of this transaction only; a
            # refresh of a few people is planned below jit_above_cost and skips the round trip.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        if connection.features.has_select_for_update:
            list(records.select_for_update().order_by("pk").values_list("pk", flat=True))
        wrong: dict[str, list[int]] = {}
        for row in _status_rows(condition, people):
            computed = status_of(row)
            if row["activation_status"] != computed:
                wrong.setdefault(computed, []).append(row["pk"])
        for status, keys in wrong.items():
            StudentRecord.objects.filter(pk__in=keys).update(activation_status=status)
    return sum(len(keys) for keys in wrong.values())
