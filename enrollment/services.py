"""Writes for roster uploads and single records; views and tasks call these and nothing else."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import F, ProtectedError
from django.utils import timezone

from audit.services import (
    Action,
    audit_entry,
    audit_record,
    audit_record_many,
    masked_changes,
    person_hash,
)
from config.queueing import enqueue_on_commit, requeue
from enrollment import importer, retention, rules, workbooks
from enrollment.models import ImportDraft, RosterUpload, StudentRecord
from schools.models import Campus, School, User
from schools.scoping import campuses_fileable_by

logger = logging.getLogger(__name__)
State = RosterUpload.State
CHECK_UPLOAD = "enrollment.tasks.check_roster_upload"
COMMIT_UPLOAD = "enrollment.tasks.commit_roster_upload"


def roster_upload_create(
    *, user: User, school: School, year: int, file_name: str, content: bytes
) -> RosterUpload:
    """Keep the file and queue its check once the upload is committed to the database."""
    upload = RosterUpload.objects.create(
        school=school, enrollment_year=year, uploaded_by=user, file_name=file_name, content=content
    )
    audit_record(
        action=Action.UPLOAD,
        actor=user,
        school=school,
        target=f"upload:{upload.pk}",
        detail={"file": file_name, "bytes": len(content), "year": year},
    )
    enqueue_on_commit(CHECK_UPLOAD, str(upload.pk))
    return upload


MAX_CHECK_ATTEMPTS = 3
GAVE_UP_MESSAGE = (
    "这个文件已尝试检查 {attempts} 次都未能完成，系统已停止处理。"
    "请用 Excel 打开，把名单复制到新的工作表，另存为 .xlsx 后重新上传；如果再次出现，请联系区医保中心"
)


def roster_upload_check(*, upload_id: uuid.UUID | str) -> None:
    """Check a queued upload and store its preview. Safe to run twice.

    Each claim is counted: a file whose check kills the worker (and is redelivered, or
    re-queued by the sweeper) is marked failed after MAX_CHECK_ATTEMPTS claims.
    """
    claimed = RosterUpload.objects.filter(
        pk=upload_id,
        state__in=[State.QUEUED, State.CHECKING],
        check_attempts__lt=MAX_CHECK_ATTEMPTS,
    ).update(
        state=State.CHECKING,
        rows_checked=0,
        check_attempts=F("check_attempts") + 1,
        last_queued_at=timezone.now(),
    )
    if not claimed:
        gave_up = RosterUpload.objects.filter(
            pk=upload_id, state__in=[State.QUEUED, State.CHECKING]
        ).update(
            state=State.FAILED,
            refusal={"message": GAVE_UP_MESSAGE.format(attempts=MAX_CHECK_ATTEMPTS)},
            checked_at=timezone.now(),
        )
        if gave_up:
            logger.warning("roster upload %s failed after %s checks", upload_id, MAX_CHECK_ATTEMPTS)
        return
    upload = (
        RosterUpload.objects.select_related("school", "uploaded_by")
        .defer("errors", "changes", "error_workbook")
        .get(pk=upload_id)
    )

    def progress(checked: int, total: int) -> None:
        # Progress doubles as a heartbeat: the sweeper leaves a check that reports alone.
        RosterUpload.objects.filter(pk=upload.pk).update(
            rows_checked=checked, rows_total=total, last_queued_at=timezone.now()
        )

    try:
        result = importer.roster_import(
            content=bytes(upload.content),
            school=upload.school,
            year=upload.enrollment_year,
            user=upload.uploaded_by,
            commit=False,
            progress=progress,
        )
    except importer.RosterUnreadable as unreadable:
        logger.warning("roster upload %s: the reader gave up on the file", upload.pk)
        _finish_check(upload.pk, state=State.FAILED, refusal={"message": unreadable.message})
        return
    except importer.RosterRefused as refusal:
        _finish_check(upload.pk, state=State.REFUSED, refusal=refusal.as_dict())
        return
    except Exception:
        logger.exception("roster upload %s could not be checked", upload.pk)
        _finish_check(
            upload.pk,
            state=State.FAILED,
            refusal={
                "message": "检查这个文件时系统出错，已记录。请稍后重新上传；如果再次出现，请联系区医保中心"
            },
        )
        raise
    _store_result(upload, result)
    # Only a check still in progress may finish: never overwrite a commit that happened since.
    finished = RosterUpload.objects.filter(pk=upload.pk, state=State.CHECKING).update(
        **{name: getattr(upload, name) for name in _RESULT_FIELDS},
        state=State.CHECKED,
        checked_at=timezone.now(),
    )
    if finished:
        _store_error_workbook(upload, result, state=State.CHECKED)


def _finish_check(upload_id: uuid.UUID, *, state: str, refusal: dict) -> None:
    RosterUpload.objects.filter(pk=upload_id, state=State.CHECKING).update(
        state=state, refusal=refusal, checked_at=timezone.now()
    )


def roster_upload_request_commit(*, upload: RosterUpload) -> bool:
    """Move a checked upload to the commit queue; False when it is not (or no longer) checked."""
    with transaction.atomic():
        moved = RosterUpload.objects.filter(
            pk=upload.pk, state=State.CHECKED, rows_valid__gt=0
        ).update(state=State.COMMITTING, last_queued_at=timezone.now())
        if moved:
            enqueue_on_commit(COMMIT_UPLOAD, str(upload.pk))
    return bool(moved)


def roster_upload_commit(*, upload_id: uuid.UUID | str) -> None:
    """Store an upload's valid rows in one transaction. Safe to run twice."""
    with transaction.atomic():
        upload = (
            RosterUpload.objects.select_for_update()
            .select_related("school", "uploaded_by")
            .filter(pk=upload_id, state=State.COMMITTING)
            .first()
        )
        if upload is None:
            return
        try:
            result = importer.roster_import(
                content=bytes(upload.content),
                school=upload.school,
                year=upload.enrollment_year,
                user=upload.uploaded_by,
                commit=True,
            )
        except importer.RosterRefused as refusal:
            _return_to_checked(upload, refusal.message)
            return
        except Exception:
            logger.exception("roster upload %s could not be committed", upload.pk)
            _return_to_checked(upload, "提交时系统出错，未保存任何记录，请稍后重新提交")
            return
        _store_result(upload, result)
        upload.result = {
            "inserted": result.inserted,
            "updated": result.updated,
            "unchanged": result.unchanged,
        }
        upload.state = State.COMMITTED
        upload.committed_at = timezone.now()
        upload.save()
        audit_record(
            action=Action.UPLOAD_COMMITTED,
            school=upload.school,
            target=f"upload:{upload.pk}",
            detail={"uploaded_by": upload.uploaded_by.get_username(), **upload.result},
        )
    _store_error_workbook(upload, result, state=State.COMMITTED)  # outside the locks


def uploads_requeue_stale(*, older_than: dt.timedelta) -> int:
    """Queue again uploads whose check or commit never started or never finished (a lost task,
    a broker outage, a worker that died in the middle of a check).

    Both tasks are safe to run twice: the check claims its state (and counts the claims, so a
    file that kills every worker ends as failed), the commit locks the upload.
    """
    cutoff = timezone.now() - older_than
    stale = list(
        RosterUpload.objects.filter(
            state__in=[State.QUEUED, State.CHECKING, State.COMMITTING], last_queued_at__lt=cutoff
        ).values_list("pk", "state")[:200]
    )
    work = (
        (COMMIT_UPLOAD if state == State.COMMITTING else CHECK_UPLOAD, str(pk))
        for pk, state in stale
    )
    requeued = requeue(RosterUpload, work)
    if requeued:
        logger.warning("re-queued %s roster uploads", requeued)
    return requeued


# Every field of RosterUpload that holds an uploaded file's bytes, with its empty value: the
# retention purge empties all of them (a new stored file is one more line here).
PURGED_FILE_FIELDS: dict[str, object] = {
    "content": b"",
    "error_workbook": None,
}


def import_drafts_purge(*, older_than_hours: int, now: dt.datetime | None = None) -> int:
    """Delete the admin import's drafts older than `older_than_hours` (confirmed or not)."""
    cutoff = (now or timezone.now()) - dt.timedelta(hours=older_than_hours)
    deleted, _ = ImportDraft.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def upload_files_purge(
    *, closing_dates: dict[int, dt.date], days_after_year: int, today: dt.date | None = None
) -> int:
    """Empty the stored files of uploads whose policy year closed `days_after_year` ago.

    Uploads still being checked or committed are left alone; counts, errors and the audit
    trail are kept. Safe to run any number of times.
    """
    today = today or timezone.localdate()
    years = (
        RosterUpload.objects.filter(purged_at__isnull=True)
        .values_list("enrollment_year", flat=True)
        .distinct()
    )
    due = [
        year
        for year in years
        if retention.purge_due(
            enrollment_year=year,
            closing_dates=closing_dates,
            days_after_year=days_after_year,
            today=today,
        )
    ]
    if not due:
        return 0
    with transaction.atomic():
        purged = (
            RosterUpload.objects.filter(enrollment_year__in=due, purged_at__isnull=True)
            .exclude(state__in=[State.QUEUED, State.CHECKING, State.COMMITTING])
            .update(purged_at=timezone.now(), **PURGED_FILE_FIELDS)
        )
        if purged:
            audit_record(
                action=Action.FILES_PURGED,
                target="roster uploads",
                detail={
                    "uploads": purged,
                    "years": sorted(due),
                    "days_after_year": days_after_year,
                },
            )
    logger.info("purged the files of %s roster uploads (years %s)", purged, sorted(due))
    return purged


def _return_to_checked(upload: RosterUpload, message: str) -> None:
    # roster_import ran in its own savepoint, already rolled back; the upload row is locked here.
    upload.state = State.CHECKED
    upload.result = {"failed": message}
    upload.save(update_fields=["state", "result"])


_RESULT_FIELDS = (
    "rows_total",
    "rows_checked",
    "rows_valid",
    "rows_with_errors",
    "to_insert",
    "to_update",
    "unchanged",
    "errors",
    "errors_total",
    "changes",
    "changes_total",
    "error_workbook",
)


def _store_result(upload: RosterUpload, result: importer.RosterResult) -> None:
    """Counts, and the first errors and changes with their totals."""
    upload.rows_total = upload.rows_checked = result.rows
    upload.rows_valid = result.valid
    upload.rows_with_errors = result.rows_with_errors
    upload.to_insert = result.inserted
    upload.to_update = result.updated
    upload.unchanged = result.unchanged
    upload.errors = result.reported_errors(with_people=True)
    upload.errors_total = len(result.errors)
    upload.changes = result.changes[: importer.REPORTED_CHANGES]
    upload.changes_total = len(result.changes)
    upload.error_workbook = None


def _store_error_workbook(
    upload: RosterUpload, result: importer.RosterResult, *, state: str
) -> None:
    """Build the error workbook (every error) once, here in the worker, and keep its bytes.

    It is built after the preview is stored: at 50,000 rows openpyxl takes some seconds, and the
    filer can read the preview meanwhile (the download says it is still being prepared).
    """
    if not result.errors or result.sheet is None:
        return
    campuses = campuses_fileable_by(upload.uploaded_by).filter(school=upload.school_id)
    content = workbooks.build_error_workbook(
        header=result.sheet.header,
        raw_rows=result.sheet.raw_rows,
        errors=[error.as_dict() for error in result.errors],
        campus_codes=campuses.values_list("code", flat=True),
    )
    RosterUpload.objects.filter(pk=upload.pk, state=state).update(error_workbook=content)


# --- single records --------------------------------------------------------------------------


class RecordRejected(Exception):
    def __init__(self, errors: list[rules.FieldError], *, summary: str = "") -> None:
        super().__init__("record rejected")
        self.errors = errors
        self.summary = summary  # about the whole form, shown above it


def record_context(
    *, user: User, school: School, year: int, correcting: bool = False
) -> rules.RowContext:
    return importer.row_context(
        school=school, year=year, user=user, today=timezone.localdate(), correcting=correcting
    )


class RecordChanged(RecordRejected):
    """The record changed after the form was opened: nothing was saved; `errors` name what."""

    def __init__(
        self, errors: list[rules.FieldError], *, summary: str, current: StudentRecord
    ) -> None:
        super().__init__(errors, summary=summary)
        self.current = current


SCHOOL_BUSY = "本校名单正在提交，请稍候半分钟后再保存（您的修改尚未保存）"
CHANGED_SINCE_OPENED = (
    "您打开此页后，这条记录已被他人修改（第 {seen} 版 → 第 {now} 版），未保存您的修改。"
    "请核对下面标出的栏目；确认无误后再次保存，将以您填写的内容为准"
)


def record_save(
    *,
    user: User,
    school: School,
    year: int,
    raw: dict[str, object],
    record: StudentRecord | None = None,
    seen_version: int | None = None,
    seen_values: dict[str, str] | None = None,
) -> StudentRecord:
    """Add or edit one record through the same rules as the upload; raise RecordRejected.

    An edit names the version its form showed (`seen_version`, and the values then shown):
    when the record has changed since (another filer's edit, a roster commit), nothing is
    saved and RecordChanged says what changed. Writes take the school's lock, as a roster
    commit does, without waiting: during a commit the filer is asked to save again shortly.
    """
    context = record_context(user=user, school=school, year=year, correcting=record is not None)
    outcome = rules.validate_row(raw, context)
    errors = list(outcome.errors)
    if outcome.is_valid:
        errors += _uniqueness_errors(
            outcome.values, user=user, school=school, year=year, record=record
        )
    if errors:
        raise RecordRejected(errors)
    campus = Campus.objects.get(code=outcome.values["campus_code"])
    creating = record is None
    try:
        with transaction.atomic():
            _lock_school(school)
            if creating:
                record = StudentRecord(school=school, enrollment_year=year, created_by=user)
            else:
                record = StudentRecord.objects.select_for_update().get(pk=record.pk)
                if seen_version is not None and record.version != seen_version:
                    raise RecordChanged(
                        _changed_since(seen_values or {}, record),
                        summary=CHANGED_SINCE_OPENED.format(seen=seen_version, now=record.version),
                        current=record,
                    )
            before = {} if creating else record.template_values()
            person_before = None if creating else (record.id_number, record.enrollment_year)
            for attribute, value in outcome.values.items():
                setattr(record, attribute, value)
            record.campus = campus
            record.updated_by = user
            record.save()
            record_statuses_refresh(before=person_before, record=record)
            audit_record_save(user=user, record=record, before=None if creating else before)
    except (IntegrityError, OperationalError) as exc:
        # A concurrent save took the ID number or student number (or deadlocked with it).
        if isinstance(exc, OperationalError) and not _is_lock_conflict(exc):
            raise
        raise RecordRejected(
            [rules.FieldError("证件号码", "刚刚有人保存了相同证件号码或学号的记录，请刷新后核对")]
        ) from exc
    return record


def record_statuses_refresh(*, before: tuple[str, int] | None, record: StudentRecord) -> None:
    """The stored status after a record was added, or its (ID number, year) changed from
    `before`: the new person's records (the record may be "done elsewhere") and the old
    person's (an application made through it now counts as another person's). Other edits
    change no status.
    """
    if before == (record.id_number, record.enrollment_year):
        return
    # Imported here: confirmations builds on enrollment, not the other way round.
    from confirmations.status import statuses_refresh

    statuses_refresh(id_numbers={record.id_number} | ({before[0]} if before else set()))


def record_errors_without_campus(*, raw: dict[str, object], year: int) -> list[rules.FieldError]:
    """A new record whose campus is missing or not the filer's: every other rule still runs,
    so the filer sees all the problems at once, not one per submit."""
    context = rules.RowContext(
        school_code="",
        enrollment_year=year,
        school_campuses=frozenset(),
        fileable_campuses=frozenset(),
        today=timezone.localdate(),
    )
    errors = [e for e in rules.validate_row(raw, context).errors if e.column != "总分校编码"]
    campus = rules.normalize_text(raw.get("campus_code"))
    message = "请选择您可以申报的校区" if campus else rules.required_message("总分校编码")
    return [*errors, rules.FieldError("总分校编码", message)]


def _lock_school(school: School) -> None:
    try:
        list(School.objects.select_for_update(nowait=True).filter(pk=school.pk).values("pk"))
    except OperationalError as exc:  # a roster commit holds it
        if not _is_lock_conflict(exc):
            raise
        raise RecordRejected([], summary=SCHOOL_BUSY) from exc


def _is_lock_conflict(exc: BaseException) -> bool:
    # PostgreSQL: lock not available (NOWAIT), deadlock detected, serialization failure.
    return getattr(exc.__cause__, "pgcode", None) in {"55P03", "40P01", "40001"}


def _changed_since(seen_values: dict[str, str], current: StudentRecord) -> list[rules.FieldError]:
    """What differs between the values the form showed and the record now, field by field."""
    now = current.template_values()
    errors = []
    for spec in rules.FIELDS:
        if spec.attribute not in seen_values:
            continue
        shown, stored = seen_values[spec.attribute], _as_text(now[spec.attribute])
        if shown != stored:
            errors.append(
                rules.FieldError(spec.header, f"他人已将此项由“{shown}”改为“{stored}”，请核对")
            )
    return errors


def _as_text(value: object) -> str:
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    return "" if value is None else str(value)


def record_form_values(record: StudentRecord) -> dict[str, str]:
    """The record's values as its edit form shows them (dates as YYYYMMDD)."""
    return {name: _as_text(value) for name, value in record.template_values().items()}


def audit_record_save(*, user: User, record: StudentRecord, before: dict | None) -> None:
    """A record's creation, or its edit as field changes (ID number and phone masked)."""
    if before is None:
        audit_record(action=Action.RECORD_CREATE, actor=user, record=record)
        return
    changes = masked_changes(before, record.template_values())
    if not changes:
        return
    detail: dict = {"changes": changes}
    if before["id_number"] != record.id_number:
        # A corrected ID number: the entry is found by the old number as well as the new.
        detail["previous_person"] = person_hash(before["id_number"])
    audit_record(action=Action.RECORD_EDIT, actor=user, record=record, detail=detail)


def _uniqueness_errors(
    values: dict, *, user: User, school: School, year: int, record: StudentRecord | None
) -> list[rules.FieldError]:
    others = StudentRecord.objects.filter(school=school, enrollment_year=year)
    if record is not None:
        others = others.exclude(pk=record.pk)
    errors = []
    same_person = others.filter(id_number=values["id_number"]).first()
    in_scope = campuses_fileable_by(user).filter(pk=getattr(same_person, "campus_id", None))
    if same_person is not None and not in_scope.exists():
        errors.append(rules.FieldError("证件号码", importer.OUT_OF_SCOPE_MESSAGE))
    elif same_person is not None:
        errors.append(
            rules.FieldError(
                "证件号码", "本校本年度已有该证件号码的记录，请在列表中搜索并编辑那条记录"
            )
        )
    if others.filter(student_number=values["student_number"]).exists():
        errors.append(
            rules.FieldError("学号", "学号已被本校另一名学生的记录使用，同一院校内学号不能重复")
        )
    return errors


@dataclass(frozen=True)
class DeleteResult:
    deleted: int
    kept_confirmed: int  # records with a confirmation are kept: the application refers to them


def records_delete(*, user: User, record_ids: list[int]) -> DeleteResult:
    """Delete the given records in the user's scope that no confirmation refers to.

    No stored status changes: a record without applications counts in no other record's
    status (STATUS_Q reads the person's applications and accounts, not their records).
    """
    records = StudentRecord.objects.filter(pk__in=record_ids, campus__in=campuses_fileable_by(user))
    confirmed = records.filter(applications__isnull=False).distinct().count()
    deletable = records.filter(applications__isnull=True)
    count = deletable.count()
    try:
        with transaction.atomic():
            audit_record_many(
                audit_entry(action=Action.RECORD_DELETE, actor=user, record=record)
                for record in deletable.only("pk", "school_id", "campus_id", "id_number")
            )
            deletable.delete()
    except ProtectedError:  # a confirmation arrived meanwhile: delete nothing, ask again
        return DeleteResult(deleted=0, kept_confirmed=confirmed + 1)
    logger.info("user %s deleted %s records, kept %s confirmed", user.pk, count, confirmed)
    return DeleteResult(deleted=count, kept_confirmed=confirmed)
