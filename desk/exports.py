"""Spreadsheet exports for filers and handlers: every cell text, none can run as a formula."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from confirmations.models import Application
from enrollment.masking import mask_id_number
from enrollment.models import StudentRecord
from enrollment.workbooks import header_cells, save, text_cell

ACTIVATION_HEADERS = [
    "序号",
    "姓名",
    "证件类型",
    "证件号码",
    "原户籍地",
    "总分校编码",
    "联系电话",
    "是否激活",
    "办理状态",
    "确认渠道",
    "代确认人",
    "统一审批编号",
    "失败原因",
]
_STATE_LABELS = dict(Application.State.choices)
_CHANNEL_LABELS = dict(Application.Channel.choices)


def activation_row(index: int, record: StudentRecord) -> list[str]:
    """One line of the activation list, as on the page (ID number masked)."""
    return [
        str(index),
        record.name,
        record.get_id_type_display().split(" ", 1)[-1],
        mask_id_number(record.id_number),
        record.origin,
        record.campus_code,
        record.phone,
        "是" if record.app_state == Application.State.CREATED else "否",
        _STATE_LABELS.get(record.app_state, "未确认"),
        _CHANNEL_LABELS.get(record.app_channel, ""),
        record.app_confirmed_by or record.app_confirmed_by_login or "",
        record.app_number or "",
        record.app_reason or "",
    ]


def activation_workbook(records: QuerySet[StudentRecord]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("新生人员账户激活与启用情况")
    _widths(sheet, [6, 10, 10, 14, 14, 10, 14, 8, 12, 10, 10, 14, 30])  # before any row
    sheet.append(header_cells(sheet, ACTIVATION_HEADERS))
    for index, record in enumerate(records.iterator(chunk_size=2000), start=1):
        sheet.append([text_cell(sheet, value) for value in activation_row(index, record)])
    return save(workbook)


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
    "建账中",
    "建账失败",
    "未确认",
]


def reconciliation_workbook(progress: list[dict], failures: Iterable[Application]) -> bytes:
    workbook = Workbook(write_only=True)
    summary = workbook.create_sheet("对账汇总")
    _widths(summary, [8, 18, 10, 14, 10, 8, 8, 10, 8, 8, 8, 8])
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
            row["pending"],
            row["failed"],
            row["unconfirmed"],
        ]
        summary.append(
            [value if isinstance(value, int) else text_cell(summary, value) for value in values]
        )

    failed = workbook.create_sheet("建账失败明细")
    _widths(failed, [10, 14, 10, 10, 14, 24, 40])
    failed.append(
        header_cells(
            failed,
            ["姓名", "证件号码", "总分校编码", "确认渠道", "统一审批编号", "失败类型", "失败原因"],
        )
    )
    for application in failures:
        values = [
            application.name,
            mask_id_number(application.id_number),
            application.record.campus_code,
            application.get_channel_display(),
            application.approval_number,
            application.get_failure_kind_display(),
            application.failure_reason,
        ]
        failed.append([text_cell(failed, value) for value in values])
    return save(workbook)


def _widths(sheet: object, widths: list[int]) -> None:
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
