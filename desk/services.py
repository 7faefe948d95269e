"""Staff writes: confirming on students' behalf, retrying, reminding (domain.md §2, §4).

Every record comes through the filer scoping of `schools.scoping`; every application through
`services.application_submit`, the same pipeline as the student's own confirmation.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import Action, audit_record
from config.queueing import enqueue_on_commit, lost_work, requeue, waiting_messages
from confirmations import services
from confirmations.models import Application, BatchConfirmation, PolicyYear, Reminder
from confirmations.sms import sms_sender
from confirmations.status import (
    STATUS_UNCONFIRMED,
    statuses_refresh,
    statuses_refresh_for_applications,
)
from desk.models import IdListUpload
from enrollment import spreadsheets
from enrollment.importer import header_position
from enrollment.masking import mask_id_number
from enrollment.models import StudentRecord
from enrollment.rules import (
    EXACT_NUMBER_LIMIT,
    normalize_header,
    normalize_id_number,
    normalize_text,
    same_name,
)
from enrollment.selectors import records_visible_to, records_without_mobile
from schools.models import School, User

logger = logging.getLogger(__name__)
REMINDER_INTERVAL = Reminder.INTERVAL
RESULT_LIST_LIMIT = 1000
RUN_BATCH = "desk.tasks.run_batch_confirmation"
SEND_REMINDERS = "desk.tasks.send_reminders"
READ_ID_LIST = "desk.tasks.read_id_list"


class ActionRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def unreadable(self) -> bool:
        """The file's reader died (rather than the file being refused)."""
        return isinstance(self.__cause__, spreadsheets.SpreadsheetUnreadable)


# --- batch confirmation -----------------------------------------------------------------------


def batch_confirmation_create(
    *,
    user: User,
    policy_year: PolicyYear,
    record_ids: list[int],
    attested: bool,
    source: str,
    skipped: list[dict] | None = None,
    file_rows: int | None = None,
) -> BatchConfirmation:
    """Record who confirms whom, after attesting the paper pledges; a worker does the rest.

    A batch from an uploaded list carries the list's rows that were not confirmed, and why
    (`skipped`), and how many rows the file had: its result page accounts for every row.
    """
    if not attested:
        raise ActionRefused("请先确认已收到所选学生本人签字的纸质承诺书")
    if not policy_year.is_open():
        raise ActionRefused(f"{policy_year.next_year} 年度集中参保缴费期已开始，批量代确认已暂停")
    in_scope = list(
        records_visible_to(user)
        .filter(pk__in=record_ids, enrollment_year=policy_year.enrollment_year)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    skipped = skipped or []
    if not in_scope and not skipped:
        raise ActionRefused("没有可以代确认的记录，请先勾选学生")
    with transaction.atomic():  # the batch and its audit entry together
        batch = BatchConfirmation.objects.create(
            created_by=user,
            policy_year=policy_year,
            paper_pledges_attested=True,
            source=source[:100],
            record_ids=in_scope,
            results={
                "file_rows": file_rows,
                "skipped": skipped[:RESULT_LIST_LIMIT],
                "skipped_count": len(skipped),
            },
        )
        audit_record(
            action=Action.BATCH_CONFIRM,
            actor=user,
            target=f"batch:{batch.pk}",
            detail={
                "records": len(in_scope),
                "source": batch.source,
                "skipped": len(skipped),
                "paper_pledges_attested": True,
            },
        )
        enqueue_on_commit(RUN_BATCH, str(batch.pk))
    logger.info("batch confirmation %s by user %s: %s records", batch.pk, user.pk, len(in_scope))
    return batch


# A batch whose progress is older than this has lost its worker (the chunk takes seconds) or its
# message (the broker was down when it was queued); the sweeper queues it again.
BATCH_LEASE = dt.timedelta(minutes=3)


def batch_confirmation_run(*, batch_id: uuid.UUID | str) -> bool:
    """Confirm the next chunk of a batch's records through the student's pipeline.

    True when records remain: the task queues the next chunk, so a long batch never holds
    its queue (the heartbeat runs between chunks) and never outlives the broker's visibility
    timeout. A chunk's applications and the batch's progress commit together: a worker killed
    mid-chunk leaves the chunk undone, and whoever resumes starts there. Safe to run twice or
    concurrently (a second runner finds the batch locked and leaves it).
    """
    with transaction.atomic():
        batch = (
            BatchConfirmation.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("created_by", "policy_year")
            .filter(
                pk=batch_id,
                state__in=[BatchConfirmation.State.QUEUED, BatchConfirmation.State.RUNNING],
            )
            .first()
        )
        if batch is None:
            return False  # done, unknown, or another worker is running its chunk now
        start = batch.processed
        chunk = batch.record_ids[start : start + settings.BATCH_CHUNK_SIZE]
        records = {
            record.pk: record
            for record in StudentRecord.objects.filter(pk__in=chunk).select_related("school")
        }
        results = batch.results if start else _results_start(batch)
        for record_id in chunk:
            record = records.get(record_id)
            if record is not None:
                _confirm_one(batch, record, results)
            else:
                _note(results, "not_found", {"record": record_id})
        # The chunk's people at once (a statement per 2,000), not three per student.
        statuses_refresh(id_numbers=[record.id_number for record in records.values()])
        batch.processed = start + len(chunk)
        batch.results = results
        batch.last_queued_at = timezone.now()  # the lease: this batch is alive
        more = batch.processed < batch.total
        if more:
            batch.state = BatchConfirmation.State.RUNNING
        else:
            batch.state = BatchConfirmation.State.DONE
            batch.finished_at = timezone.now()
        batch.save(update_fields=["processed", "results", "state", "last_queued_at", "finished_at"])
    return more


def batches_requeue_stale(*, older_than: dt.timedelta = BATCH_LEASE) -> int:
    """Queue again batches that stopped: no progress for `older_than` (a worker that died in a
    chunk, a message lost with the broker) — while the batches queue holds nothing waiting,
    so a batch whose next chunk is merely waiting in a backlog is not queued twice."""
    waiting = waiting_messages("batches")
    if waiting is None or waiting > 0:
        return 0  # the broker does not answer, or its queue still holds work to come
    cutoff = timezone.now() - older_than
    stale = list(
        BatchConfirmation.objects.filter(
            state__in=[BatchConfirmation.State.QUEUED, BatchConfirmation.State.RUNNING],
            last_queued_at__lt=cutoff,
        ).values_list("pk", flat=True)[:200]
    )
    requeued = requeue(BatchConfirmation, ((RUN_BATCH, str(pk)) for pk in stale))
    if requeued:
        logger.warning("resumed %s batch confirmations", requeued)
    return requeued


def _results_start(batch: BatchConfirmation) -> dict:
    """A batch's results: who was confirmed, who was already confirmed (and how far), who was
    refused and why, and the list's rows skipped before the run — every one accounted for."""
    skipped = batch.results.get("skipped", [])
    return {
        "confirmed": 0,
        "confirmed_people": [],
        "already_pending": [],
        "already_waiting": [],
        "already_created": [],
        "refused": [],
        "not_found": [],  # selected records deleted before the run
        "file_rows": batch.results.get("file_rows"),
        "skipped": skipped,
        # How many of each, also past RESULT_LIST_LIMIT: the page's counts add up to the total.
        "counts": {
            "confirmed": 0,
            "already_pending": 0,
            "already_waiting": 0,
            "already_created": 0,
            "refused": 0,
            "not_found": 0,
            "skipped": batch.results.get("skipped_count", len(skipped)),
        },
    }


_ALREADY = {
    Application.State.PENDING: "already_pending",
    Application.State.WAITING: "already_waiting",
    Application.State.CREATED: "already_created",
}


def _confirm_one(batch: BatchConfirmation, record: StudentRecord, results: dict) -> None:
    who = {
        "name": record.name,
        "id": mask_id_number(record.id_number),
        "student_number": record.student_number,
    }
    try:
        services.application_submit(
            record=record,
            policy_year=batch.policy_year,
            confirmed_by=batch.created_by,
            paper_pledge_attested=batch.paper_pledges_attested,
            batch=batch,
            refresh_status=False,  # batch_confirmation_run refreshes the chunk's people
        )
    except services.ConfirmationRefused as refused:
        other = refused.application
        if other is not None and other.batch_id == batch.pk and other.state in _ALREADY:
            _confirmed(results, who)  # this batch confirmed it before a restart
        elif other is not None and other.state in _ALREADY:
            _note(
                results,
                _ALREADY[other.state],
                {
                    **who,
                    "approval_number": other.approval_number,
                    "channel": other.get_channel_display(),
                    "state": other.get_state_display(),
                },
            )
        else:
            _note(results, "refused", {**who, "message": refused.message})
    else:
        _confirmed(results, who)


def _confirmed(results: dict, who: dict) -> None:
    results["confirmed"] += 1
    results["counts"]["confirmed"] += 1
    _append(results["confirmed_people"], who)


def _note(results: dict, key: str, item: dict) -> None:
    results["counts"][key] += 1
    _append(results[key], item)


def _append(items: list, item: dict) -> None:
    if len(items) < RESULT_LIST_LIMIT:
        items.append(item)


@dataclass(frozen=True)
class ListRow:
    """One row of an uploaded ID list: its spreadsheet row, ID number and (optional) name."""

    row: int
    id_number: str
    name: str


ID_LIST_HEADERS = ("证件号码", "姓名")


def id_list_rows(content: bytes) -> list[ListRow]:
    """The rows of an uploaded ID list (first sheet): 证件号码 and, when given, 姓名.

    The header row is found as for rosters (a title row above it, a 序号 column, * marks). The
    file is read by `enrollment.spreadsheets` in a child process with limits; call this from a
    worker, never from a web request.
    """
    try:
        rows = spreadsheets.read_first_sheet(content).rows
    except spreadsheets.SpreadsheetRefused as refused:
        raise ActionRefused(refused.message) from refused
    position = header_position(rows, ID_LIST_HEADERS[:1], enough=1) if rows else 0
    header = [normalize_header(value) for value in rows[position][1]] if rows else []
    if "证件号码" not in header:
        raise ActionRefused("名单中找不到“证件号码”表头，请使用代确认名单模板")
    id_column = header.index("证件号码")
    name_column = header.index("姓名") if "姓名" in header else None
    listed = []
    for number, cells in rows[position + 1 :]:
        value = _cell(cells, id_column)
        if _is_inexact_number(value):
            raise ActionRefused(
                f"第 {number} 行的证件号码是数字格式，Excel 已截断长号码。"
                "请将该列设为文本格式后重新填写"
            )
        name = normalize_text(_cell(cells, name_column)) if name_column is not None else ""
        id_number = normalize_id_number(value)
        if id_number or name:
            listed.append(ListRow(number, id_number, name))
    return listed


def _cell(cells: list[object], column: int | None) -> object:
    return cells[column] if column is not None and column < len(cells) else None


def _is_inexact_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return abs(value) >= EXACT_NUMBER_LIMIT or (isinstance(value, float) and not value.is_integer())


def id_list_plan(
    *, user: User, school: School, policy_year: PolicyYear, rows: list[ListRow]
) -> tuple[list[int], list[dict]]:
    """The records to confirm for a list's rows, and the rows skipped with the reason.

    A row is confirmed only when its ID number is on the school's roster for the year within
    the user's scope and, when the list gives a name, the name is the roster's (compared as
    names are: case, full-width characters, spaces and middle dots aside) — so an ID number
    mistyped into another student's is not confirmed for a student who handed in no pledge.
    A name mismatch is listed with the full ID number and both names: the filer typed them,
    and the record is theirs to see. A number not found stays masked (it may be a typo for
    someone else's number, and it is stored with the batch), shown with its row in the file and
    the name the list gave: enough for the filer to find the row in their own file.
    """
    records = {
        record.id_number: record
        for record in records_visible_to(user).filter(
            school=school,
            enrollment_year=policy_year.enrollment_year,
            id_number__in=[row.id_number for row in rows if row.id_number],
        )
    }
    first_row: dict[str, int] = {}
    record_ids, skipped = [], []
    for row in rows:
        record = records.get(row.id_number)
        if not row.id_number:
            skipped.append(_skip(row, "missing_id", "缺少证件号码", name=row.name))
        elif row.id_number in first_row:
            reason = f"与第 {first_row[row.id_number]} 行的证件号码重复"
            skipped.append(_skip(row, "duplicate", reason, id=mask_id_number(row.id_number)))
        elif record is None:
            reason = "不在所选院校本年度、您经办范围内的新生名单中，请核对证件号码"
            skipped.append(
                _skip(row, "not_found", reason, id=mask_id_number(row.id_number), name=row.name)
            )
        elif row.name and not same_name(row.name, record.name):
            reason = f"名单中的姓名“{row.name}”与院校名单中的姓名“{record.name}”不一致，未代确认"
            skipped.append(
                _skip(
                    row,
                    "name_mismatch",
                    reason,
                    id=row.id_number,
                    name=row.name,
                    roster_name=record.name,
                )
            )
        else:
            record_ids.append(record.pk)
        first_row.setdefault(row.id_number, row.row)
    return record_ids, skipped


def _skip(row: ListRow, kind: str, reason: str, **shown: str) -> dict:
    return {"row": row.row, "kind": kind, "reason": reason, **shown}


# --- ID lists, read by a worker ----------------------------------------------------------------

MAX_READ_ATTEMPTS = 3


def id_list_upload_create(
    *,
    user: User,
    school: School,
    policy_year: PolicyYear,
    file_name: str,
    content: bytes,
    attested: bool,
) -> IdListUpload:
    """Keep an uploaded ID list and queue its reading; a worker creates the batch from it."""
    if not attested:
        raise ActionRefused("请先确认已收到所选学生本人签字的纸质承诺书")
    if not policy_year.is_open():
        raise ActionRefused(f"{policy_year.next_year} 年度集中参保缴费期已开始，批量代确认已暂停")
    if len(content) > spreadsheets.MAX_FILE_BYTES:
        raise ActionRefused(spreadsheets.file_too_large_message())
    upload = IdListUpload.objects.create(
        created_by=user,
        school=school,
        policy_year=policy_year,
        file_name=file_name[:255],
        content=content,
        paper_pledges_attested=attested,
    )
    enqueue_on_commit(READ_ID_LIST, str(upload.pk))
    return upload


def id_list_upload_read(*, upload_id: uuid.UUID | str) -> None:
    """Read a queued ID list and create its batch, or record why not. Safe to run twice.

    Claims are counted: a list whose reading keeps killing the worker is failed after
    MAX_READ_ATTEMPTS, not redelivered for ever.
    """
    State = IdListUpload.State
    claimed = IdListUpload.objects.filter(
        pk=upload_id, state__in=[State.QUEUED, State.READING], read_attempts__lt=MAX_READ_ATTEMPTS
    ).update(
        state=State.READING, read_attempts=F("read_attempts") + 1, last_queued_at=timezone.now()
    )
    if not claimed:
        IdListUpload.objects.filter(pk=upload_id, state__in=[State.QUEUED, State.READING]).update(
            state=State.FAILED,
            message=f"这个名单已尝试读取 {MAX_READ_ATTEMPTS} 次都未能完成，系统已停止处理。"
            "请把证件号码复制到新的名单模板后重新上传",
            content=b"",
        )
        return
    upload = IdListUpload.objects.select_related("created_by", "policy_year", "school").get(
        pk=upload_id
    )
    try:
        rows = id_list_rows(bytes(upload.content))
        if not rows:
            raise ActionRefused("名单中没有证件号码，请在“证件号码”列填写需要代确认的学生")
        record_ids, skipped = id_list_plan(
            user=upload.created_by,
            school=upload.school,
            policy_year=upload.policy_year,
            rows=rows,
        )
        with transaction.atomic():
            batch = batch_confirmation_create(
                user=upload.created_by,
                policy_year=upload.policy_year,
                record_ids=record_ids,
                attested=upload.paper_pledges_attested,
                source=f"导入名单 {upload.file_name}",
                skipped=skipped,
                file_rows=len(rows),
            )
            _finish_id_list(upload, state=State.DONE, batch=batch)
    except ActionRefused as refused:
        state = State.FAILED if refused.unreadable else State.REFUSED
        _finish_id_list(upload, state=state, message=refused.message)


def _finish_id_list(
    upload: IdListUpload, *, state: str, message: str = "", batch: BatchConfirmation | None = None
) -> None:
    IdListUpload.objects.filter(pk=upload.pk, state=IdListUpload.State.READING).update(
        state=state, message=message, batch=batch, content=b""
    )


def id_lists_requeue_stale(*, older_than: dt.timedelta) -> int:
    """Queue again ID lists whose reading never started or never finished."""
    cutoff = timezone.now() - older_than
    stale = list(
        IdListUpload.objects.filter(
            state__in=[IdListUpload.State.QUEUED, IdListUpload.State.READING],
            last_queued_at__lt=cutoff,
        ).values_list("pk", flat=True)[:200]
    )
    return requeue(IdListUpload, ((READ_ID_LIST, str(pk)) for pk in stale))


# --- retry and reminders ----------------------------------------------------------------------


def application_retry(*, user: User, application_id: int) -> Application:
    """Queue again an application that failed for a technical reason (in the user's scope)."""
    application = (
        Application.objects.filter(pk=application_id, record__in=records_visible_to(user))
        .select_related("policy_year")
        .first()
    )
    if application is None:
        raise ActionRefused("找不到该申请，或不在您的经办范围内")
    if not application.policy_year.is_open():
        raise ActionRefused("下一年度集中参保缴费期已开始，不能再重试建账")
    if (
        application.state != Application.State.FAILED
        or application.failure_kind != Application.FailureKind.TECHNICAL
    ):
        raise ActionRefused("只有因系统原因失败的申请可以重试；业务原因请先更正信息后重新申请")
    try:
        with transaction.atomic():
            Application.objects.filter(pk=application.pk).update(
                state=Application.State.PENDING,
                failure_kind="",
                failure_reason="",
                last_queued_at=timezone.now(),
            )
            statuses_refresh_for_applications(
                applications=Application.objects.filter(pk=application.pk)
            )
            enqueue_on_commit(services.CREATE_ACCOUNT, application.pk)
    except IntegrityError as exc:
        raise ActionRefused("该学生已有进行中的申请，无需重试") from exc
    application.refresh_from_db()
    audit_record(
        action=Action.APPLICATION_RETRY,
        actor=user,
        record=application.record,
        target=f"application:{application.approval_number}",
    )
    logger.info("application %s retried by user %s", application.approval_number, user.pk)
    return application


@dataclass(frozen=True)
class ReminderPlan:
    """Who a reminder for a school would text, and why the rest of the desk's 未确认 are not:
    `unconfirmed` is the desk's column for the school (the user's campuses), and
    unconfirmed = unwilling + no_mobile + recently_reminded + len(record_ids)."""

    school: School
    unconfirmed: int
    unwilling: int
    no_mobile: int
    recently_reminded: int
    record_ids: list[int]

    @property
    def recipients(self) -> int:
        return len(self.record_ids)


def reminder_plan(*, user: User, school: School, policy_year: PolicyYear) -> ReminderPlan:
    """The school's students in the user's scope whom a reminder would text: not confirmed by
    the desk's own definition (no application anywhere, failed ones included, and no account
    through another school), registered as willing, with a mobile phone, not reminded in the
    last 24 hours."""
    records = records_visible_to(user).filter(
        school=school, enrollment_year=policy_year.enrollment_year
    )
    unconfirmed = records.filter(activation_status=STATUS_UNCONFIRMED)
    no_mobile = set(records_without_mobile(records).values_list("pk", flat=True))
    since = timezone.now() - REMINDER_INTERVAL
    recently = {
        record_id
        for ids in Reminder.objects.filter(school=school, created_at__gte=since).values_list(
            "record_ids", flat=True
        )
        for record_id in ids
    }
    counts = {"unconfirmed": 0, "unwilling": 0, "no_mobile": 0, "recently": 0}
    record_ids = []
    for pk, willingness in unconfirmed.order_by("campus_code", "student_number").values_list(
        "pk", "willingness"
    ):
        counts["unconfirmed"] += 1
        if willingness != "1":
            counts["unwilling"] += 1
        elif pk in no_mobile:
            counts["no_mobile"] += 1
        elif pk in recently:
            counts["recently"] += 1
        else:
            record_ids.append(pk)
    return ReminderPlan(
        school=school,
        unconfirmed=counts["unconfirmed"],
        unwilling=counts["unwilling"],
        no_mobile=counts["no_mobile"],
        recently_reminded=counts["recently"],
        record_ids=record_ids,
    )


def reminders_send(
    *, user: User, school: School, policy_year: PolicyYear, expected: int | None = None
) -> Reminder:
    """Text the students of `reminder_plan`, once the user saw how many and confirmed:
    `expected` is the number they confirmed; if it changed since, nothing is sent."""
    if not policy_year.is_open():
        raise ActionRefused("新生参保确认已暂停，不再发送提醒")
    plan = reminder_plan(user=user, school=school, policy_year=policy_year)
    if expected is not None and expected != plan.recipients:
        raise ActionRefused(
            f"需要提醒的人数已从 {expected} 人变为 {plan.recipients} 人，未发送。请核对后再确认"
        )
    if not plan.record_ids:
        if plan.recently_reminded:
            raise ActionRefused("24 小时内已经提醒过这些未确认的学生，请明天再发送")
        raise ActionRefused("没有需要提醒的学生")
    reminder = Reminder.objects.create(
        sent_by=user, school=school, recipients=plan.recipients, record_ids=plan.record_ids
    )
    # Stored, then queued: if the broker cannot take it, the batches sweeper queues it later
    # (`reminders_requeue_stale`); its students already count as reminded meanwhile.
    enqueue_on_commit(SEND_REMINDERS, reminder.pk)
    return reminder


# A reminder's worker renews its claim after every text; one not renewed for this long has lost
# its worker, and a reminder queued this long ago and never claimed has lost its message.
REMINDER_LEASE = dt.timedelta(minutes=3)


def reminder_deliver(*, reminder_id: int) -> int:
    """Text the reminder's students not texted yet, then mark it delivered; how many were texted.

    Safe to run twice or concurrently: a copy first claims the reminder (undelivered, and not
    claimed by a copy whose lease is alive) and renews the claim with its progress after each
    text, so a second copy sends nothing while the first is alive, and a copy resuming after a
    dead one starts after the last student texted. A reminder older than REMINDER_INTERVAL is
    left unsent: by then the desk may already have sent the same students a new one.
    """
    policy_year = PolicyYear.current()
    if policy_year is None:
        return 0  # no year to name in the text: the sweeper tries again later
    now = lease = timezone.now()
    claimed = Reminder.objects.filter(
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - REMINDER_LEASE),
        pk=reminder_id,
        delivered_at__isnull=True,
        created_at__gte=now - REMINDER_INTERVAL,
    ).update(claimed_at=lease)
    if not claimed:
        return 0  # delivered, too old, or another copy holds it
    reminder = Reminder.objects.get(pk=reminder_id)
    todo = reminder.record_ids[reminder.processed :]
    records = StudentRecord.objects.select_related("school").in_bulk(todo)
    sender = sms_sender()
    sent = 0
    for position, record_id in enumerate(todo, start=reminder.processed + 1):
        if (record := records.get(record_id)) is not None:  # a record deleted since is skipped
            sender.send(record.phone, reminder_text(record=record, policy_year=policy_year))
            sent += 1
        renewed = timezone.now()
        if not Reminder.objects.filter(pk=reminder_id, claimed_at=lease).update(
            processed=position, claimed_at=renewed
        ):
            return sent  # our lease ran out and another copy took over: it carries on
        lease = renewed
    Reminder.objects.filter(pk=reminder_id, claimed_at=lease).update(delivered_at=timezone.now())
    return sent


def reminder_text(*, record: StudentRecord, policy_year: PolicyYear) -> str:
    last_day = policy_year.last_open_day
    return (
        f"【医保新生参保】{record.name}同学，{record.school.name}提醒您尽快在"
        f"{policy_year.city.app_name}“居民医保参保确认（新生）”完成参保确认，"
        f"办理截止 {last_day.month} 月 {last_day.day} 日。"
    )


def reminders_requeue_stale(*, older_than: dt.timedelta = REMINDER_LEASE) -> int:
    """Queue again undelivered reminders whose sending was lost (`config.queueing.lost_work`: a
    worker that stopped renewing its claim mid-way, or a message lost while the batches queue is
    empty), queued `older_than` ago.

    Reminders older than REMINDER_INTERVAL are left: `reminder_deliver` would not send them.
    """
    waiting = waiting_messages("batches")
    if waiting is None:
        return 0  # the broker does not answer: nothing can be queued now
    now = timezone.now()
    stale = list(
        Reminder.objects.filter(
            lost_work(cutoff=now - older_than, queue_empty=waiting == 0),
            delivered_at__isnull=True,
            created_at__gte=now - REMINDER_INTERVAL,
        ).values_list("pk", flat=True)[:200]
    )
    requeued = requeue(Reminder, ((SEND_REMINDERS, pk) for pk in stale))
    if requeued:
        logger.warning("re-queued %s reminders", requeued)
    return requeued
