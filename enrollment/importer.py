"""The roster pipeline: read an .xlsx roster, check every row, and (on commit) store it.

The browser upload (through its worker), the `import_roster` command and the benchmark all call
`roster_import`; the single-record form and the admin import share `rules.validate_row`.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg2
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from enrollment import rules, spreadsheets
from enrollment.masking import mask_id_number, mask_phone
from enrollment.models import StudentRecord
from schools.models import City, School, User
from schools.scoping import campuses_fileable_by, campuses_visible_to

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
PROGRESS_EVERY = 2000
# A report (the CLI's JSON, an upload's stored preview) names at most this many errors and
# changes, with the totals; the error workbook has every one.
REPORTED_ERRORS = 500
REPORTED_CHANGES = 200
_MASKED_ATTRIBUTES = {"phone": mask_phone}


class RosterRefused(Exception):
    """The file as a whole cannot be read as a roster; nothing in it was checked."""

    def __init__(
        self,
        message: str,
        *,
        expected: list[str] | None = None,
        found: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected or []
        self.found = found or []

    def as_dict(self) -> dict:
        return {"message": self.message, "expected": self.expected, "found": self.found}


class RosterUnreadable(RosterRefused):
    """The reader process died, or ran out of memory or time, on the file."""


@dataclass
class RosterSheet:
    """The data rows of a roster's first sheet, keyed by attribute, with spreadsheet row numbers."""

    rows: list[tuple[int, dict[str, object]]]
    raw_rows: list[tuple[int, list[object]]]
    header: list[object]


@dataclass
class RosterResult:
    rows: int = 0
    valid: int = 0
    errors: list[rules.RowError] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    changes: list[dict] = field(default_factory=list)
    committed: bool = False
    # The rows as read, when some have errors: the worker builds the error workbook from them.
    sheet: RosterSheet | None = field(default=None, repr=False)

    @property
    def rows_with_errors(self) -> int:
        return self.rows - self.valid

    def reported_errors(self) -> list[dict]:
        return [error.as_dict() for error in self.errors[:REPORTED_ERRORS]]

    def as_dict(self) -> dict:
        """The report, bounded: the first REPORTED_ERRORS errors and the total."""
        return {
            "rows": self.rows,
            "valid": self.valid,
            "errors": self.reported_errors(),
            "errors_total": len(self.errors),
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "committed": self.committed,
        }


# --- reading ---------------------------------------------------------------------------------


def read_roster(content: bytes) -> RosterSheet:
    """Read the first sheet of an .xlsx roster; refuse files that are not one.

    The file is inspected and parsed in a child process with memory and time limits
    (`enrollment.spreadsheets`): a hostile file is refused, or ends that process, never ours.
    The header row is found, not assumed: real rosters carry a title row above it (and start
    with a 序号 column, and mark required headers with *).
    """
    try:
        sheet = spreadsheets.read_first_sheet(content)
    except spreadsheets.SpreadsheetUnreadable as exc:
        raise RosterUnreadable(exc.message) from exc
    except spreadsheets.SpreadsheetRefused as exc:
        raise RosterRefused(exc.message) from exc
    if not sheet.rows:
        raise RosterRefused("第一个工作表是空的，请把名单填写在模板的第一个工作表中")
    position = header_position(sheet.rows, rules.HEADERS, enough=len(rules.HEADERS) // 2)
    header_number, header = sheet.rows[position]
    data_rows = sheet.rows[position + 1 :]
    columns = _map_columns(header, header_number)
    rows = [
        (number, {attribute: _cell(cells_, index) for attribute, index in columns.items()})
        for number, cells_ in data_rows
    ]
    rows = [(number, values) for number, values in rows if any(_filled(v) for v in values.values())]
    return RosterSheet(rows=rows, raw_rows=data_rows, header=header)


HEADER_SEARCH_ROWS = 10  # a title, a note, a blank line or two: the header comes soon after


def header_position(
    rows: list[tuple[int, list[object]]], wanted: tuple[str, ...], *, enough: int
) -> int:
    """Which of the first rows is the header: the first holding `enough` of the wanted headers,
    else the one holding the most of them (its mismatch is then reported), else the first."""
    best, best_count = 0, 0
    wanted_set = set(wanted)
    for position, (_, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        count = len(wanted_set.intersection(rules.normalize_header(cell) for cell in cells))
        if count >= enough:
            return position
        if count > best_count:
            best, best_count = position, count
    return best


def _filled(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return True


def _cell(cells: list[object], index: int) -> object:
    return cells[index] if index < len(cells) else None


def _map_columns(header: list[object], header_number: int) -> dict[str, int]:
    found = [rules.normalize_header(value) for value in header]
    while found and not found[-1]:
        found.pop()
    expected = list(rules.HEADERS)
    position = {name: index for index, name in enumerate(found)}
    known = [name for name in found if name not in rules.IGNORED_HEADERS]
    if sorted(known) != sorted(expected):
        missing = [name for name in expected if name not in known]
        unexpected = [name or "（空白）" for name in known if name not in expected]
        repeated = sorted({name for name in known if known.count(name) > 1})
        details = []
        if missing:
            details.append("缺少：" + "、".join(missing))
        if unexpected:
            details.append("多出：" + "、".join(unexpected))
        if repeated:
            details.append("重复：" + "、".join(repeated))
        raise RosterRefused(
            f"第 {header_number} 行的表头与导入模板不一致（{'；'.join(details)}）。"
            "请下载导入模板，按模板的 18 个表头填写后重新上传",
            expected=expected,
            found=[rules.normalize_text(value) for value in header[: len(found)]],
        )
    return {spec.attribute: position[spec.header] for spec in rules.FIELDS}


# --- checking and storing -------------------------------------------------------------------


def row_context(
    *, school: School, year: int, user: User, today: dt.date, correcting: bool = False
) -> rules.RowContext:
    """What rows are checked against. `correcting` an existing record: the campuses the user
    may see and correct (a deregistered school's too); otherwise those they may file for."""
    city = City.for_year(year)
    scope = campuses_visible_to if correcting else campuses_fileable_by
    return rules.RowContext(
        school_code=school.code,
        enrollment_year=year,
        school_campuses=frozenset(school.campuses.values_list("code", flat=True)),
        fileable_campuses=frozenset(
            scope(user).filter(school=school).values_list("code", flat=True)
        ),
        today=today,
        permit_prefixes={id_type: city.prefixes_for(id_type) for id_type in city.permit_prefixes},
    )


def roster_import(
    *,
    content: bytes,
    school: School,
    year: int,
    user: User,
    commit: bool,
    progress: ProgressCallback | None = None,
    today: dt.date | None = None,
) -> RosterResult:
    """Check every row of a roster for `school`; with `commit`, store the valid rows atomically.

    Without `commit` nothing is written and the counts say what a commit would do. With it, the
    check runs again inside the transaction (the records may have changed since the preview),
    while the school is locked against concurrent commits.
    """
    today = today or timezone.localdate()
    with _gc_paused():
        return _import(
            content,
            school=school,
            year=year,
            user=user,
            commit=commit,
            progress=progress,
            today=today,
        )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a roster is processed.

    Tens of thousands of row dicts trigger repeated full collections that find nothing (rows
    hold no cycles; reference counting frees them): measured at 10–25% of the time per step.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _import(
    content: bytes,
    *,
    school: School,
    year: int,
    user: User,
    commit: bool,
    progress: ProgressCallback | None,
    today: dt.date,
) -> RosterResult:
    sheet = read_roster(content)
    if not commit:
        result, _ = _check(
            sheet, school=school, year=year, user=user, today=today, progress=progress
        )
        result.sheet = sheet if result.errors else None  # kept for the error workbook only
        return result

    with transaction.atomic():
        School.objects.select_for_update().get(pk=school.pk)
        result, plan = _check(
            sheet, school=school, year=year, user=user, today=today, progress=progress
        )
        try:
            with transaction.atomic():
                _store(plan, school=school, year=year, user=user)
        except (DatabaseError, psycopg2.Error) as exc:
            # COPY runs on psycopg2's own cursor: its errors arrive unwrapped by Django.
            message = conflict_message(exc, plan)
            if message is None:
                raise
            logger.warning("roster commit for school %s hit a concurrent write", school.code)
            raise RosterRefused(message) from exc
        result.committed = True
        result.sheet = sheet if result.errors else None
    logger.info(
        "roster committed: school=%s year=%s inserted=%s updated=%s unchanged=%s errors=%s",
        school.code,
        year,
        result.inserted,
        result.updated,
        result.unchanged,
        result.rows_with_errors,
    )
    return result


@dataclass
class _Plan:
    new: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)
    # (attribute, value) -> spreadsheet row, to name the row a concurrent write collided with
    rows: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, into: list[dict], values: dict, row: int) -> None:
        into.append(values)
        self.rows[("id_number", values["id_number"])] = row
        self.rows[("student_number", values["student_number"])] = row


UNIQUE_VIOLATION, DEADLOCK_DETECTED, SERIALIZATION_FAILURE = "23505", "40P01", "40001"
_CONFLICT = "提交时与刚刚保存的其他记录冲突（{what}），未保存任何记录。请刷新记录列表核对后重新提交"
_KEY_DETAIL = re.compile(r"Key \((?P<columns>[^)]*)\)=\((?P<values>[^)]*)\)")


def conflict_message(exc: BaseException, plan: _Plan) -> str | None:
    """The friendly message for a commit that collided with a concurrent write, naming the
    row where the database says which key; None for any other database error."""
    error = exc if isinstance(exc, psycopg2.Error) else exc.__cause__
    code = getattr(error, "pgcode", None)
    if isinstance(exc, IntegrityError) and code is None:  # SQLite: no code, no detail
        return _CONFLICT.format(what="同一学号或证件号码已被其他记录使用")
    if code in (DEADLOCK_DETECTED, SERIALIZATION_FAILURE):
        return _CONFLICT.format(what="其他人正在同时保存同一名学生的记录")
    if code != UNIQUE_VIOLATION:
        return None
    detail = getattr(getattr(error, "diag", None), "message_detail", None) or ""
    match = _KEY_DETAIL.search(detail)
    if match:
        column = match["columns"].split(", ")[-1]
        value = match["values"].split(", ")[-1]
        row = plan.rows.get((column, value))
        if row is not None and column == "student_number":
            return _CONFLICT.format(what=f"第 {row} 行的学号 {value} 已被另一条记录使用")
        if row is not None and column == "id_number":
            shown = mask_id_number(value)
            return _CONFLICT.format(what=f"第 {row} 行的证件号码 {shown} 已有另一条记录")
    return _CONFLICT.format(what="同一学号或证件号码已被其他记录使用")


def _check(
    sheet: RosterSheet,
    *,
    school: School,
    year: int,
    user: User,
    today: dt.date,
    progress: ProgressCallback | None,
) -> tuple[RosterResult, _Plan]:
    context = row_context(school=school, year=year, user=user, today=today)
    total = len(sheet.rows)
    errors: list[rules.RowError] = []
    outcomes: list[tuple[int, rules.RowOutcome]] = []
    for index, (row_number, raw) in enumerate(sheet.rows, start=1):
        outcome = rules.validate_row(raw, context)
        errors.extend(rules.RowError(row_number, e.column, e.message) for e in outcome.errors)
        outcomes.append((row_number, outcome))
        if progress and index % PROGRESS_EVERY == 0:
            progress(index, total)

    errors.extend(
        rules.duplicate_errors(
            ((row, o.values["id_number"]) for row, o in outcomes if o.values["id_number"]),
            column="证件号码",
            what="证件号码",
        )
    )
    errors.extend(
        rules.duplicate_errors(
            ((row, o.values["student_number"]) for row, o in outcomes),
            column="学号",
            what="学号",
        )
    )

    existing = _existing_records(school=school, year=year)
    bad_rows = {error.row for error in errors}
    candidates = [(row, o) for row, o in outcomes if row not in bad_rows]
    errors.extend(_records_out_of_scope(candidates, existing, context))
    errors.extend(_student_number_conflicts(candidates, existing))
    bad_rows = {error.row for error in errors}

    result = RosterResult(rows=total)
    plan = _Plan()
    for row_number, outcome in outcomes:
        if row_number in bad_rows:
            continue
        result.valid += 1
        values = outcome.values
        current = existing.get(values["id_number"])
        if current is None:
            plan.add(plan.new, values, row_number)
            continue
        changes = _changes(current, values)
        if changes:
            plan.add(plan.changed, values, row_number)
            result.changes.append(
                {"row": row_number, "person": rules.describe_person(values), "changes": changes}
            )
        else:
            result.unchanged += 1
    result.inserted = len(plan.new)
    result.updated = len(plan.changed)
    result.errors = sorted(errors, key=lambda e: (e.row, rules.HEADERS.index(e.column)))
    if progress:
        progress(total, total)
    return result, plan


def _existing_records(*, school: School, year: int) -> dict[str, tuple]:
    """The school's records for the year: ID number → the 18 values in template order."""
    rows = (
        StudentRecord.objects.filter(school=school, enrollment_year=year)
        .values_list(*_TEMPLATE_ATTRIBUTES)
        .iterator(chunk_size=5000)
    )
    id_position = rules.HEADERS.index("证件号码")
    return {values[id_position]: values for values in rows}


def _records_out_of_scope(
    candidates: list[tuple[int, rules.RowOutcome]],
    existing: dict[str, tuple],
    context: rules.RowContext,
) -> list[rules.RowError]:
    """Rows that would overwrite a record of a campus the filer may not file for.

    Without this a backup handler of one campus could move another campus's student into
    their own scope (and see the stored values in the preview). The message names nothing.
    """
    campus_position = rules.HEADERS.index("总分校编码")
    return [
        rules.RowError(row, "证件号码", OUT_OF_SCOPE_MESSAGE)
        for row, outcome in candidates
        if (current := existing.get(outcome.values["id_number"])) is not None
        and current[campus_position] not in context.fileable_campuses
    ]


OUT_OF_SCOPE_MESSAGE = (
    "该学生已由本校其他校区申报，您无权修改这条记录。如需更正，请联系该校区的指定人员"
)


def _student_number_conflicts(
    candidates: list[tuple[int, rules.RowOutcome]], existing: dict[str, tuple]
) -> list[rules.RowError]:
    """Rows whose student number belongs to another person already on the school's roster."""
    refiled = {o.values["id_number"] for _, o in candidates}
    number_position = rules.HEADERS.index("学号")
    owner_of_number = {
        values[number_position]: id_number
        for id_number, values in existing.items()
        if id_number not in refiled
    }
    conflicts = []
    for row, outcome in candidates:
        owner = owner_of_number.get(outcome.values["student_number"])
        if owner and owner != outcome.values["id_number"]:
            conflicts.append(
                rules.RowError(
                    row,
                    "学号",
                    "学号已被本校另一名学生的记录使用，同一院校内学号不能重复，请核对学号",
                )
            )
    return conflicts


def _changes(current: tuple, values: dict) -> list[dict]:
    changes = []
    for spec, old in zip(rules.FIELDS, current, strict=True):
        new = values[spec.attribute]
        if old != new:
            mask = _MASKED_ATTRIBUTES.get(spec.attribute, _display)
            changes.append(
                {"column": spec.header, "old": mask(_display(old)), "new": mask(_display(new))}
            )
    return changes


def _display(value: object) -> str:
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    return "" if value is None else str(value)


def _store(plan: _Plan, *, school: School, year: int, user: User) -> None:
    """Write the plan: new rows inserted, changed rows upserted on (school, year, ID number)."""
    campus_ids = dict(school.campuses.values_list("code", "pk"))
    now = timezone.now()
    if plan.new and connection.vendor == "postgresql":
        _copy_insert(plan.new, school=school, year=year, user=user, now=now, campus_ids=campus_ids)
    elif plan.new:
        StudentRecord.objects.bulk_create(
            [
                _record(values, school, year, user, now, campus_ids, created_at=now)
                for values in plan.new
            ],
            batch_size=2000,
        )
    if plan.changed:
        # Each updated record is a new version: a form opened before the commit is not saved
        # over it. The school is locked (record_save takes the lock too): versions hold still.
        versions = dict(
            StudentRecord.objects.filter(school=school, enrollment_year=year).values_list(
                "id_number", "version"
            )
        )
        # An upsert costs one statement per batch; bulk_update's CASE expressions cost seconds.
        StudentRecord.objects.bulk_create(
            [
                _record(
                    values,
                    school,
                    year,
                    user,
                    now,
                    campus_ids,
                    version=versions.get(values["id_number"], 0) + 1,
                )
                for values in plan.changed
            ],
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["school", "enrollment_year", "id_number"],
            update_fields=[*_TEMPLATE_ATTRIBUTES, "campus", "updated_by", "updated_at", "version"],
        )


_TEMPLATE_ATTRIBUTES = [spec.attribute for spec in rules.FIELDS]


def _record(
    values: dict,
    school: School,
    year: int,
    user: User,
    now: dt.datetime,
    campus_ids: dict[str, int],
    **extra: object,
) -> StudentRecord:
    return StudentRecord(
        school=school,
        enrollment_year=year,
        campus_id=campus_ids[values["campus_code"]],
        created_by=user,
        updated_by=user,
        updated_at=now,
        **{name: values[name] for name in _TEMPLATE_ATTRIBUTES},
        **extra,
    )


def _copy_insert(
    rows: list[dict],
    *,
    school: School,
    year: int,
    user: User,
    now: dt.datetime,
    campus_ids: dict[str, int],
) -> None:
    """Insert new records with PostgreSQL's COPY: about 4× faster than bulk_create at 50,000 rows.

    Every value is written quoted, so empty strings stay empty strings (an unquoted empty CSV
    value would be NULL); constraint violations still raise IntegrityError.
    """
    meta = StudentRecord._meta
    quote = connection.ops.quote_name
    stamp = now.isoformat()
    columns = [
        "school",
        "campus",
        "enrollment_year",
        *_TEMPLATE_ATTRIBUTES,
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for values in rows:
        writer.writerow(
            [
                school.pk,
                campus_ids[values["campus_code"]],
                year,
                *(_copy_value(values[name]) for name in _TEMPLATE_ATTRIBUTES),
                stamp,
                stamp,
                user.pk,
                user.pk,
            ]
        )
    buffer.seek(0)
    column_list = ", ".join(quote(meta.get_field(name).column) for name in columns)
    with connection.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {quote(meta.db_table)} ({column_list}) FROM STDIN WITH (FORMAT csv)", buffer
        )


def _copy_value(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)
