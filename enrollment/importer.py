"""The roster pipeline: read an .xlsx roster, check every row, and (on commit) store it.

The browser upload (through its worker), the `import_roster` command and the benchmark all call
`roster_import`; the single-record form and the admin import share `rules.validate_row`.
"""

from __future__ import annotations

import array
import csv
import datetime as dt
import gc
import hashlib
import io
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg2
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from audit.services import Action, StoredRecord, audit_records_written
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
    """The data rows of a roster's first sheet as read, with spreadsheet row numbers.

    `rows()` gives each filled row keyed by attribute, one at a time: at 50,000 rows a list of
    those dicts cost about 60 MB next to the cells they are made from.
    """

    raw_rows: list[tuple[int, list[object]]]
    header: list[object]
    columns: dict[str, int] = field(default_factory=dict)
    filled: list[int] = field(default_factory=list)  # positions in raw_rows of filled rows

    @property
    def row_count(self) -> int:
        return len(self.filled)

    def rows(self) -> Iterator[tuple[int, dict[str, object]]]:
        columns = self.columns.items()
        for position in self.filled:
            number, cells = self.raw_rows[position]
            yield number, {attribute: _cell(cells, index) for attribute, index in columns}


class _PreparedRows(RosterSheet):
    """Rows already keyed by attribute (the admin's import, read by its own format)."""

    def __init__(self, rows: list[tuple[int, dict[str, object]]]) -> None:
        super().__init__(raw_rows=[], header=[])
        self._prepared = rows

    @property
    def row_count(self) -> int:
        return len(self._prepared)

    def rows(self) -> Iterator[tuple[int, dict[str, object]]]:
        yield from self._prepared


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

    def reported_errors(self, *, with_people: bool = False) -> list[dict]:
        """The first REPORTED_ERRORS errors; `with_people` adds each row's name and the value
        the cell held (an ID number or phone masked), for the preview the filer reads."""
        shown = [error.as_dict() for error in self.errors[:REPORTED_ERRORS]]
        if not with_people or self.sheet is None:
            return shown
        wanted = {error["row"] for error in shown}
        rows = {number: raw for number, raw in self.sheet.rows() if number in wanted}
        for error in shown:
            raw = rows.get(error["row"], {})
            error["name"] = rules.normalize_text(raw.get("name"))[:30]
            error["value"] = cell_as_shown(raw, error["column"])
        return shown

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


def read_roster(content: bytes, *, limits: spreadsheets.ReadLimits | None = None) -> RosterSheet:
    """Read the first sheet of an .xlsx roster; refuse files that are not one.

    The file is inspected and parsed in a child process with memory and time limits
    (`enrollment.spreadsheets`; the upload's unless `limits` is given, which only the operator's
    command does): a hostile file is refused, or ends that process, never ours.
    The header row is found, not assumed: real rosters carry a title row above it (and start
    with a 序号 column, and mark required headers with *).
    """
    try:
        sheet = spreadsheets.read_first_sheet(content, limits=limits)
    except spreadsheets.SpreadsheetUnreadable as exc:
        raise RosterUnreadable(exc.message) from exc
    except spreadsheets.SpreadsheetRefused as exc:
        raise RosterRefused(exc.message) from exc
    return roster_rows(sheet.rows)


def roster_rows(numbered_rows: list[tuple[int, list[object]]]) -> RosterSheet:
    """A sheet's non-blank rows (with their spreadsheet numbers) as a roster: the header found
    and checked against the template, the data rows keyed by attribute, blank rows dropped.

    The admin's import (a file already read into rows) goes through here too.
    """
    if not numbered_rows:
        raise RosterRefused("第一个工作表是空的，请把名单填写在模板的第一个工作表中")
    position = header_position(numbered_rows, rules.HEADERS, enough=len(rules.HEADERS) // 2)
    header_number, header = numbered_rows[position]
    data_rows = numbered_rows[position + 1 :]
    columns = _map_columns(header, header_number)
    indexes = list(columns.values())
    filled = [
        position
        for position, (_, cells_) in enumerate(data_rows)
        if any(spreadsheets.filled(_cell(cells_, index)) for index in indexes)
    ]
    return RosterSheet(raw_rows=data_rows, header=header, columns=columns, filled=filled)


# Columns whose cleaned values repeat down a roster (codes, places, colleges, dates): one object
# per distinct value instead of one per row (the cells as read are shared by the reader,
# spreadsheets._Reply). Names, ID numbers, student numbers and phones are unique.
_REPEATED = (
    "id_type",
    "origin",
    "birth_date",
    "ethnicity",
    "sex",
    "college",
    "major",
    "education",
    "campus_code",
    "registration_date",
    "status",
    "address",
    "postcode",
    "willingness",
)


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
    limits: spreadsheets.ReadLimits | None = None,
) -> RosterResult:
    """Check every row of a roster for `school`; with `commit`, store the valid rows atomically.

    Without `commit` nothing is written and the counts say what a commit would do. With it, the
    check runs again inside the transaction (the records may have changed since the preview),
    while the school is locked against concurrent commits. `limits` are the reader's (see
    `read_roster`): the upload's unless the operator's command passes its own.
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
            limits=limits,
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
    limits: spreadsheets.ReadLimits | None,
) -> RosterResult:
    sheet = read_roster(content, limits=limits)
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
        result.sheet = sheet if result.errors else None  # for the error workbook only
        del sheet  # the cells as read: not held while the rows are written
        try:
            with transaction.atomic():
                _store(plan, school=school, year=year, user=user)
                _audit_stored(plan, school=school, year=year, user=user)
        except (DatabaseError, psycopg2.Error) as exc:
            # COPY runs on psycopg2's own cursor: its errors arrive unwrapped by Django.
            message = conflict_message(exc, plan)
            if message is None:
                raise
            logger.warning("roster commit for school %s hit a concurrent write", school.code)
            raise RosterRefused(message) from exc
        result.committed = True
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
    """Rows to write, each the 18 cleaned values in template order (a tuple: a third of a
    dict's memory), with their spreadsheet row numbers alongside (4 bytes a row)."""

    new: list[tuple] = field(default_factory=list)
    changed: list[tuple] = field(default_factory=list)
    new_rows: array.array = field(default_factory=lambda: array.array("l"))
    changed_rows: array.array = field(default_factory=lambda: array.array("l"))
    edits: list[list[dict]] = field(default_factory=list)  # each changed row's masked changes

    def add_new(self, values: tuple, row: int) -> None:
        self.new.append(values)
        self.new_rows.append(row)

    def add_changed(self, values: tuple, row: int) -> None:
        self.changed.append(values)
        self.changed_rows.append(row)

    def row_of(self, attribute: str, value: str) -> int | None:
        """The spreadsheet row that holds `value` in `attribute` (an ID or student number), to
        name the row a concurrent write collided with. A scan: asked once, on a failure; an
        index of every value would cost about 250 bytes a row for every commit."""
        if attribute not in ("id_number", "student_number"):
            return None
        index = _ID if attribute == "id_number" else _NUMBER
        for planned, rows in ((self.new, self.new_rows), (self.changed, self.changed_rows)):
            for position, values in enumerate(planned):
                if values[index] == value:
                    return rows[position]
        return None


_TEMPLATE_ATTRIBUTES = [spec.attribute for spec in rules.FIELDS]
_ID = _TEMPLATE_ATTRIBUTES.index("id_number")
_NUMBER = _TEMPLATE_ATTRIBUTES.index("student_number")
_CAMPUS = _TEMPLATE_ATTRIBUTES.index("campus_code")


def check_rows(
    rows: list[tuple[int, dict[str, object]]],
    *,
    school: School,
    year: int,
    user: User,
    today: dt.date,
) -> RosterResult:
    """Every rule of the upload's preview (the rows', duplicates in the file, scope, student
    numbers taken) for rows of one school, without storing anything."""
    sheet = _PreparedRows(rows)
    result, _ = _check(sheet, school=school, year=year, user=user, today=today, progress=None)
    return result


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
        row = plan.row_of(column, value)
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
    total = sheet.row_count
    errors: list[rules.RowError] = []
    # (row number, the cleaned values in template order), every row: the duplicate checks
    # look at rows with errors too.
    checked: list[tuple[int, tuple]] = []
    shared: dict[object, object] = {}  # one object per repeated cleaned value (see _REPEATED)
    for index, (row_number, raw) in enumerate(sheet.rows(), start=1):
        outcome = rules.validate_row(raw, context)
        if outcome.errors:
            errors.extend(rules.RowError(row_number, e.column, e.message) for e in outcome.errors)
        values = outcome.values
        for name in _REPEATED:
            values[name] = shared.setdefault(values[name], values[name])
        checked.append((row_number, tuple([values[name] for name in _TEMPLATE_ATTRIBUTES])))
        if progress and index % PROGRESS_EVERY == 0:
            progress(index, total)

    errors.extend(
        rules.duplicate_errors(
            ((row, values[_ID]) for row, values in checked if values[_ID]),
            column="证件号码",
            what="证件号码",
        )
    )
    errors.extend(
        rules.duplicate_errors(
            ((row, values[_NUMBER]) for row, values in checked),
            column="学号",
            what="学号",
        )
    )

    existing = _existing_records(school=school, year=year)
    bad_rows = {error.row for error in errors}
    candidates = [(row, values) for row, values in checked if row not in bad_rows]
    errors.extend(_records_out_of_scope(candidates, existing, context))
    errors.extend(_student_number_conflicts(candidates, existing))
    bad_rows = {error.row for error in errors}
    del candidates

    result = RosterResult(rows=total)
    plan = _Plan()
    for row_number, values in checked:
        if row_number in bad_rows:
            continue
        result.valid += 1
        current = existing.get(values[_ID])
        if current is None:
            plan.add_new(values, row_number)
        elif current.digest != _digest(values):
            plan.add_changed(values, row_number)
        else:
            result.unchanged += 1
    del checked, existing
    result.changes = _change_report(plan.changed, plan.changed_rows, school=school, year=year)
    plan.edits = [entry["changes"] for entry in result.changes]
    result.inserted = len(plan.new)
    result.updated = len(plan.changed)
    result.errors = sorted(errors, key=lambda e: (e.row, rules.HEADERS.index(e.column)))
    if progress:
        progress(total, total)
    return result, plan


@dataclass(frozen=True, slots=True)
class _Stored:
    """What the check needs of a stored record: a digest of its 18 values (to tell unchanged
    rows without keeping them), its campus (scope) and its student number (conflicts)."""

    digest: bytes
    campus_code: str
    student_number: str


def _digest(values: tuple) -> bytes:
    """The 18 values of a row, as compared: a stored record and a file row are equal exactly
    when their digests are (dates as ISO text on both sides, text as is)."""
    return hashlib.blake2b("\x1f".join(map(str, values)).encode(), digest_size=16).digest()


def _existing_records(*, school: School, year: int) -> dict[str, _Stored]:
    """The school's records for the year: ID number → digest, campus and student number.

    Read in chunks and reduced as they come: the 18 values of 50,000 records are not kept.
    """
    rows = (
        StudentRecord.objects.filter(school=school, enrollment_year=year)
        .values_list(*_TEMPLATE_ATTRIBUTES)
        .iterator(chunk_size=5000)
    )
    campuses: dict[str, str] = {}  # one string per campus code, shared by its records
    return {
        values[_ID]: _Stored(
            _digest(values),
            campuses.setdefault(values[_CAMPUS], values[_CAMPUS]),
            values[_NUMBER],
        )
        for values in rows
    }


def _records_out_of_scope(
    candidates: list[tuple[int, tuple]],
    existing: dict[str, _Stored],
    context: rules.RowContext,
) -> list[rules.RowError]:
    """Rows that would overwrite a record of a campus the filer may not file for.

    Without this a backup handler of one campus could move another campus's student into
    their own scope (and see the stored values in the preview). The message names nothing.
    """
    return [
        rules.RowError(row, "证件号码", OUT_OF_SCOPE_MESSAGE)
        for row, values in candidates
        if (current := existing.get(values[_ID])) is not None
        and current.campus_code not in context.fileable_campuses
    ]


OUT_OF_SCOPE_MESSAGE = (
    "该学生已由本校其他校区申报，您无权修改这条记录。如需更正，请联系该校区的指定人员"
)


def _student_number_conflicts(
    candidates: list[tuple[int, tuple]], existing: dict[str, _Stored]
) -> list[rules.RowError]:
    """Rows whose student number belongs to another person already on the school's roster."""
    refiled = {values[_ID] for _, values in candidates}
    owner_of_number = {
        stored.student_number: id_number
        for id_number, stored in existing.items()
        if id_number not in refiled
    }
    conflicts = []
    for row, values in candidates:
        owner = owner_of_number.get(values[_NUMBER])
        if owner and owner != values[_ID]:
            conflicts.append(
                rules.RowError(
                    row,
                    "学号",
                    "学号已被本校另一名学生的记录使用，同一院校内学号不能重复，请核对学号",
                )
            )
    return conflicts


_MASKED_HEADERS = {"证件号码": mask_id_number, "联系电话": mask_phone}


def cell_as_shown(raw: dict[str, object], column: str) -> str:
    """What a filer typed into one cell, as a preview may show it: an ID number or a phone
    masked, long text cut."""
    value = raw.get(rules.FIELD_BY_HEADER[column].attribute)
    text = (
        value.text if isinstance(value, spreadsheets.ExactNumber) else rules.normalize_text(value)
    )
    mask = _MASKED_HEADERS.get(column)
    return mask(text) if mask and text else text[:60]


def _change_report(
    changed: list[tuple], rows: Sequence[int], *, school: School, year: int
) -> list[dict]:
    """What each changed row changes, old → new: the stored values of those rows only."""
    report = []
    for start in range(0, len(changed), 2000):
        chunk = changed[start : start + 2000]
        stored = dict(
            (values[_ID], values)
            for values in StudentRecord.objects.filter(
                school=school, enrollment_year=year, id_number__in=[v[_ID] for v in chunk]
            ).values_list(*_TEMPLATE_ATTRIBUTES)
        )
        for row_number, values in zip(rows[start : start + 2000], chunk, strict=True):
            report.append(
                {
                    "row": row_number,
                    "person": rules.describe_person(
                        {
                            "name": values[_TEMPLATE_ATTRIBUTES.index("name")],
                            "id_number": values[_ID],
                        }
                    ),
                    "changes": _changes(stored[values[_ID]], values),
                }
            )
    return report


def _changes(current: tuple, values: tuple) -> list[dict]:
    changes = []
    for spec, old, new in zip(rules.FIELDS, current, values, strict=True):
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
        for start in range(0, len(plan.new), COPY_CHUNK_ROWS):
            StudentRecord.objects.bulk_create(
                [
                    _record(values, school, year, user, now, campus_ids, created_at=now)
                    for values in plan.new[start : start + COPY_CHUNK_ROWS]
                ],
                batch_size=2000,
            )
    if plan.new:
        _statuses_refresh_for_new_records([values[_ID] for values in plan.new])
    # An update keeps (school, year, ID number): its status, which depends on those, stays.
    if not plan.changed:
        return
    # Each updated record is a new version: a form opened before the commit is not saved over
    # it. The school is locked (record_save takes the lock too): versions hold still.
    versions = dict(
        StudentRecord.objects.filter(school=school, enrollment_year=year).values_list(
            "id_number", "version"
        )
    )
    for start in range(0, len(plan.changed), COPY_CHUNK_ROWS):
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
                    version=versions.get(values[_ID], 0) + 1,
                )
                for values in plan.changed[start : start + COPY_CHUNK_ROWS]
            ],
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["school", "enrollment_year", "id_number"],
            update_fields=[*_TEMPLATE_ATTRIBUTES, "campus", "updated_by", "updated_at", "version"],
        )


def _statuses_refresh_for_new_records(id_numbers: list[str]) -> None:
    # Imported here: confirmations builds on enrollment, not the other way round.
    from confirmations.status import statuses_refresh_for_new_records

    statuses_refresh_for_new_records(id_numbers=id_numbers)


# Rows per COPY (and per batch of model objects): bounds the buffer, not the transaction.
COPY_CHUNK_ROWS = 10_000


def _audit_stored(plan: _Plan, *, school: School, year: int, user: User) -> None:
    """A RECORD_CREATE or RECORD_EDIT entry per record the commit wrote, as a single edit
    writes one; the records' ids are read back once (COPY returns none)."""
    if not plan.new and not plan.changed:
        return
    created = {values[_ID] for values in plan.new}
    edited = {
        values[_ID]: changes for values, changes in zip(plan.changed, plan.edits, strict=True)
    }
    stored = (
        StudentRecord.objects.filter(school=school, enrollment_year=year)
        .values_list("pk", "campus_id", "id_number")
        .iterator(chunk_size=5000)
    )

    def items() -> Iterator[tuple[str, StoredRecord, dict]]:
        for pk, campus_id, id_number in stored:
            record = StoredRecord(pk, school.pk, campus_id, id_number)
            if id_number in created:
                yield Action.RECORD_CREATE, record, {"via": "roster"}
            elif (changes := edited.get(id_number)) is not None:
                yield Action.RECORD_EDIT, record, {"via": "roster", "changes": changes}

    audit_records_written(actor=user, items=items())


def _record(
    values: tuple,
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
        campus_id=campus_ids[values[_CAMPUS]],
        created_by=user,
        updated_by=user,
        updated_at=now,
        **dict(zip(_TEMPLATE_ATTRIBUTES, values, strict=True)),
        **extra,
    )


def _copy_insert(
    rows: list[tuple],
    *,
    school: School,
    year: int,
    user: User,
    now: dt.datetime,
    campus_ids: dict[str, int],
) -> None:
    """Insert new records with PostgreSQL's COPY: about 4× faster than bulk_create at 50,000 rows.

    Every value is written quoted, so empty strings stay empty strings (an unquoted empty CSV
    value would be NULL); the csv module writes dates as ISO text (str()). Constraint violations
    still raise IntegrityError. Sent COPY_CHUNK_ROWS at a time, so the text is never the whole
    roster.
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
    column_list = ", ".join(quote(meta.get_field(name).column) for name in columns)
    statement = f"COPY {quote(meta.db_table)} ({column_list}) FROM STDIN WITH (FORMAT csv)"
    head = [school.pk, 0, year]
    tail = [stamp, stamp, user.pk, user.pk]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), COPY_CHUNK_ROWS):
            buffer = io.StringIO()
            writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
            for values in rows[start : start + COPY_CHUNK_ROWS]:
                head[1] = campus_ids[values[_CAMPUS]]
                writer.writerow([*head, *values, *tail])
            buffer.seek(0)
            cursor.copy_expert(statement, buffer)
