"""Staff writes: confirming on students' behalf, retrying, reminding (domain.md §2, §4).

Every record comes through the filer scoping of `schools.scoping`; every application through
`services.application_submit`, the same pipeline as the student's own confirmation.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit.services import Action, audit_record
from config.queueing import enqueue, enqueue_on_commit
from confirmations import services
from confirmations.models import Application, BatchConfirmation, PolicyYear, Reminder
from confirmations.sms import sms_sender
from desk.models import IdListUpload
from enrollment import spreadsheets
from enrollment.masking import mask_id_number
from enrollment.models import StudentRecord
from enrollment.rules import normalize_header, normalize_id_number
from enrollment.selectors import records_visible_to
from schools.models import School, User

logger = logging.getLogger(__name__)
REMINDER_INTERVAL = dt.timedelta(hours=24)
RESULT_LIST_LIMIT = 1000
PROGRESS_EVERY = 50
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
    not_found: list[str] | None = None,
) -> BatchConfirmation:
    """Record who confirms whom, after attesting the paper pledges; a worker does the rest."""
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
    if not in_scope:
        if not_found:
            raise ActionRefused(
                f"名单中的 {len(not_found)} 个证件号码都不在您经办院校本年度的新生名单中"
            )
        raise ActionRefused("没有可以代确认的记录，请先勾选学生")
    with transaction.atomic():  # the batch and its audit entry together
        batch = BatchConfirmation.objects.create(
            created_by=user,
            policy_year=policy_year,
            paper_pledges_attested=True,
            source=source[:100],
            record_ids=in_scope,
            results={"not_found": (not_found or [])[:RESULT_LIST_LIMIT]},
        )
        audit_record(
            action=Action.BATCH_CONFIRM,
            actor=user,
            target=f"batch:{batch.pk}",
            detail={
                "records": len(in_scope),
                "source": batch.source,
                "not_found": len(not_found or []),
                "paper_pledges_attested": True,
            },
        )
        enqueue_on_commit(RUN_BATCH, str(batch.pk))
    logger.info("batch confirmation %s by user %s: %s records", batch.pk, user.pk, len(in_scope))
    return batch


def batch_confirmation_run(*, batch_id: uuid.UUID | str) -> None:
    """Confirm each record of a batch through the student's pipeline. Safe to run twice."""
    claimed = BatchConfirmation.objects.filter(
        pk=batch_id, state__in=[BatchConfirmation.State.QUEUED, BatchConfirmation.State.RUNNING]
    ).update(state=BatchConfirmation.State.RUNNING)
    if not claimed:
        return
    batch = BatchConfirmation.objects.select_related("created_by", "policy_year").get(pk=batch_id)
    records = {
        record.pk: record
        for record in StudentRecord.objects.filter(pk__in=batch.record_ids).select_related("school")
    }
    results: dict = {
        "confirmed": 0,
        "already_pending": [],
        "already_created": [],
        "refused": [],
        "not_found": batch.results.get("not_found", []),
    }
    for index, record_id in enumerate(batch.record_ids, start=1):
        record = records.get(record_id)
        if record is not None:
            _confirm_one(batch, record, results)
        if index % PROGRESS_EVERY == 0:
            BatchConfirmation.objects.filter(pk=batch.pk).update(processed=index)
    batch.processed = batch.total
    batch.results = results
    batch.state = BatchConfirmation.State.DONE
    batch.finished_at = timezone.now()
    batch.save()


def batches_requeue_stale(*, older_than: dt.timedelta) -> int:
    """Queue again batches that never started (a lost task, a broker outage)."""
    cutoff = timezone.now() - older_than
    stale = list(
        BatchConfirmation.objects.filter(
            state=BatchConfirmation.State.QUEUED, last_queued_at__lt=cutoff
        ).values_list("pk", flat=True)[:200]
    )
    for pk in stale:
        BatchConfirmation.objects.filter(pk=pk).update(last_queued_at=timezone.now())
        enqueue(RUN_BATCH, str(pk))
    return len(stale)


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
        )
    except services.ConfirmationRefused as refused:
        live = refused.application
        if live is not None and live.batch_id == batch.pk:
            results["confirmed"] += 1  # this batch confirmed it before a restart
        elif live is not None:
            key = "already_pending" if live.is_pending else "already_created"
            _append(
                results[key],
                {
                    **who,
                    "approval_number": live.approval_number,
                    "channel": live.get_channel_display(),
                },
            )
        else:
            _append(results["refused"], {**who, "message": refused.message})
    else:
        results["confirmed"] += 1


def _append(items: list, item: dict) -> None:
    if len(items) < RESULT_LIST_LIMIT:
        items.append(item)


def id_numbers_from_workbook(content: bytes) -> list[str]:
    """The ID numbers in the 证件号码 column of an uploaded list (first sheet).

    The file is read by `enrollment.spreadsheets` in a child process with limits; call this
    from a worker, never from a web request.
    """
    try:
        rows = spreadsheets.read_first_sheet(content).rows
    except spreadsheets.SpreadsheetRefused as refused:
        raise ActionRefused(refused.message) from refused
    if not rows:
        raise ActionRefused("文件第 1 行缺少“证件号码”表头，请使用名单模板")
    (header_number, header_cells), *data_rows = rows
    header = [normalize_header(value) for value in header_cells]
    if header_number != 1 or "证件号码" not in header:
        raise ActionRefused("文件第 1 行缺少“证件号码”表头，请使用名单模板")
    column = header.index("证件号码")
    numbers = []
    for _, cells in data_rows:
        value = cells[column] if column < len(cells) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ActionRefused(
                "证件号码列是数字格式，Excel 已截断长号码。请将该列设为文本格式后重新填写"
            )
        text = normalize_id_number(value)
        if text:
            numbers.append(text)
    return list(dict.fromkeys(numbers))


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
        limit = spreadsheets.MAX_FILE_BYTES // (1024 * 1024)
        raise ActionRefused(f"文件超过 {limit} MB，请拆分成几个文件分别上传")
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
        numbers = id_numbers_from_workbook(bytes(upload.content))
        record_ids, missing = records_for_id_numbers(
            user=upload.created_by,
            school=upload.school,
            policy_year=upload.policy_year,
            id_numbers=numbers,
        )
        with transaction.atomic():
            batch = batch_confirmation_create(
                user=upload.created_by,
                policy_year=upload.policy_year,
                record_ids=record_ids,
                attested=upload.paper_pledges_attested,
                source=f"导入名单 {upload.file_name}",
                not_found=missing,
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
    for pk in stale:
        IdListUpload.objects.filter(pk=pk).update(last_queued_at=timezone.now())
        enqueue(READ_ID_LIST, str(pk))
    return len(stale)


def records_for_id_numbers(
    *, user: User, school: School, policy_year: PolicyYear, id_numbers: list[str]
) -> tuple[list[int], list[str]]:
    """Record ids in scope for the listed ID numbers, and the (masked) numbers not found."""
    found = dict(
        records_visible_to(user)
        .filter(
            school=school, enrollment_year=policy_year.enrollment_year, id_number__in=id_numbers
        )
        .values_list("id_number", "pk")
    )
    missing = [mask_id_number(number) for number in id_numbers if number not in found]
    return list(found.values()), missing


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


def reminders_send(*, user: User, school: School, policy_year: PolicyYear) -> Reminder:
    """Remind the school's students in scope who have not confirmed; once a day per school."""
    if not policy_year.is_open():
        raise ActionRefused("新生参保确认已暂停，不再发送提醒")
    since = timezone.now() - REMINDER_INTERVAL
    recently_reminded = {
        record_id
        for ids in Reminder.objects.filter(school=school, created_at__gte=since).values_list(
            "record_ids", flat=True
        )
        for record_id in ids
    }
    candidates = list(_unconfirmed(user, school, policy_year).values_list("pk", flat=True))
    record_ids = [pk for pk in candidates if pk not in recently_reminded]
    if candidates and not record_ids:
        raise ActionRefused("24 小时内已经提醒过这些未确认的学生，请明天再发送")
    reminder = Reminder.objects.create(
        sent_by=user, school=school, recipients=len(record_ids), record_ids=record_ids
    )
    if record_ids:
        enqueue_on_commit(SEND_REMINDERS, reminder.pk, record_ids)
    return reminder


def _unconfirmed(user: User, school: School, policy_year: PolicyYear):
    return (
        records_visible_to(user)
        .filter(school=school, enrollment_year=policy_year.enrollment_year, willingness="1")
        .exclude(
            applications__policy_year=policy_year, applications__state__in=["pending", "created"]
        )
    )


def reminders_deliver(*, record_ids: list[int], policy_year: PolicyYear) -> int:
    sender = sms_sender()
    sent = 0
    for record in StudentRecord.objects.filter(pk__in=record_ids).select_related("school"):
        sender.send(
            record.phone,
            f"【医保新生参保】{record.name}同学，{record.school.name}提醒您尽快在随申办"
            f"“居民医保参保确认（新生）”完成参保确认，截止 {policy_year.enrollment_period_opens:%m 月 %d 日}前。",
        )
        sent += 1
    return sent
