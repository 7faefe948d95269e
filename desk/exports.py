"""Spreadsheet exports for filers and handlers: every cell text, none can run as a formula."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

from django.db.models import QuerySet
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from confirmations.failures import failure_guide
from confirmations.models import Application
from desk import xlsx_stream
from enrollment.masking import mask_id_number
from enrollment.models import StudentRecord
from enrollment.workbooks import header_cells, save, text_cell

# Seed 01's 激活情况 list (序号 … 是否激活), with what lets a school match it to its roster
# (学院, 学号) and tell each student their result (waiting period, the account's day, next step).
ACTIVATION_HEADERS = [
    "序号",
    "姓名",
    "证件类型",
    "证件号码",
    "原户籍地",
    "学院",
    "学号",
    "总分校编码",
    "联系电话",
    "是否激活",
    "办理状态",
    "待遇等待期核验结果",
    "建账日期",
    "确认渠道",
    "代确认人",
    "统一审批编号",
    "失败原因",
    "下一步",
]
ACTIVATION_WIDTHS = [6, 10, 10, 20, 14, 14, 12, 10, 14, 8, 16, 24, 16, 10, 10, 14, 30, 40]
_STATE_LABELS = dict(Application.State.choices)
_CHANNEL_LABELS = dict(Application.Channel.choices)
_ELSEWHERE_LABELS = {
    Application.State.PENDING: "已通过其他院校办理（建账中）",
    Application.State.WAITING: "已通过其他院校办理（待遇等待期）",
    Application.State.CREATED: "已通过其他院校办理（已建账）",
    Application.State.FAILED: "已通过其他院校办理（建账失败）",
}
_LIVE_STATES = {Application.State.PENDING, Application.State.WAITING, Application.State.CREATED}


def state_label(record: StudentRecord) -> str:
    """办理状态 of a record annotated by `desk.selectors.records_with_status`."""
    if record.app_state is None and record.elsewhere_state:
        return _ELSEWHERE_LABELS.get(record.elsewhere_state, "已通过其他院校办理")
    if record.app_state is None and getattr(record, "account_elsewhere", False):
        return "已有居民医保账户（未通过本校办理）"
    if record.app_state == Application.State.FAILED and record.elsewhere_state in _LIVE_STATES:
        return _ELSEWHERE_LABELS[record.elsewhere_state]
    return _STATE_LABELS.get(record.app_state, "未确认")


def waiting_result(record: StudentRecord) -> str:
    """The waiting-period check (待遇等待期核验结果), as the school tells it to the student."""
    if record.app_state == Application.State.PENDING:
        return "核验中"
    if record.app_state not in {Application.State.WAITING, Application.State.CREATED}:
        return ""
    if record.app_waiting_until is None:
        return "无待遇等待期"
    return f"有待遇等待期，至 {record.app_waiting_until:%Y-%m-%d}"


def account_day(record: StudentRecord) -> str:
    if record.app_account_on is None:
        return ""
    if record.app_state == Application.State.WAITING:
        return f"{record.app_account_on:%Y-%m-%d}（期满次日）"
    if record.app_state == Application.State.CREATED:
        return f"{record.app_account_on:%Y-%m-%d}"
    return ""


def activation_row(index: int, record: StudentRecord, *, full_id: bool = False) -> list[str]:
    """One line of the activation list: masked on the page, the full ID number in the export
    (the school's own data, for staff entitled to the school; audited as a full-ID display)."""
    failed = record.app_state == Application.State.FAILED
    return [
        str(index),
        record.name,
        record.get_id_type_display().split(" ", 1)[-1],
        record.id_number if full_id else mask_id_number(record.id_number),
        record.origin,
        record.college,
        record.student_number,
        record.campus_code,
        record.phone,
        "是" if record.app_state == Application.State.CREATED else "否",
        state_label(record),
        waiting_result(record),
        account_day(record),
        _CHANNEL_LABELS.get(record.app_channel, ""),
        record.app_confirmed_by or record.app_confirmed_by_login or "",
        record.app_number or "",
        record.app_reason or "",
        failure_guide(record.app_failure_kind).staff_step if failed else "",
    ]


def activation_workbook(records: QuerySet[StudentRecord]) -> IO[bytes]:
    """The activation list with full ID numbers, as a temporary .xlsx file (rewound).

    Records are read 2,000 at a time and each row is written as it comes (`xlsx_stream`):
    memory stays flat however many records match, and 50,000 rows take seconds, not the
    22–31 s openpyxl's cell objects took.
    """
    rows = (
        activation_row(index, record, full_id=True)
        for index, record in enumerate(records.iterator(chunk_size=2000), start=1)
    )
    return xlsx_stream.write_text_sheet(
        title="新生人员账户激活与启用情况",
        headers=ACTIVATION_HEADERS,
        widths=ACTIVATION_WIDTHS,
        rows=rows,
    )


RECONCILIATION_HEADERS = [
    "院校编码",
    "院校名称",
    "总分校编码",
    "校区",
    "所在区",
    "名单人数",
    "本人确认",
    "院校代确认",
    "建账成功",
    "待遇等待期",
    "建账中",
    "建账失败",
    "其他院校已办理",
    "未确认",
]


FAILURE_HEADERS = [
    "姓名",
    "证件号码",
    "学号",
    "总分校编码",
    "确认渠道",
    "统一审批编号",
    "失败类型",
    "失败原因",
    "下一步",
]


def reconciliation_workbook(progress: list[dict], failures: Iterable[Application]) -> bytes:
    workbook = Workbook(write_only=True)
    summary = workbook.create_sheet("对账汇总")
    _widths(summary, [8, 18, 10, 14, 10, 8, 8, 10, 8, 10, 8, 8, 12, 8])
    summary.append(header_cells(summary, RECONCILIATION_HEADERS))
    for row in progress:
        values = [
            row["school__code"],
            row["school__name"],
            row["campus__code"],
            row["campus__name"],
            row["campus__district__name"],
            row["uploaded"],
            row["confirmed_self"],
            row["confirmed_on_behalf"],
            row["created"],
            row["waiting"],
            row["pending"],
            row["failed"],
            row["elsewhere"],
            row["unconfirmed"],
        ]
        summary.append(
            [value if isinstance(value, int) else text_cell(summary, value) for value in values]
        )

    failed = workbook.create_sheet("建账失败明细")
    _widths(failed, [10, 14, 12, 10, 10, 14, 16, 40, 60])
    failed.append(header_cells(failed, FAILURE_HEADERS))
    for application in failures:
        guide = failure_guide(application.failure_kind)
        values = [
            application.name,
            mask_id_number(application.id_number),
            application.record.student_number,
            application.record.campus_code,
            application.get_channel_display(),
            application.approval_number,
            guide.label,
            application.failure_reason,
            guide.staff_step,
        ]
        failed.append([text_cell(failed, value) for value in values])
    return save(workbook)


def _widths(sheet: object, widths: list[int]) -> None:
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
