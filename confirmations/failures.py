"""What a failed account means and what happens next, per kind of failure — as data.

The student's result page, the staff desk and the reconciliation workbook all read
`failure_guide`, so that the three never tell a student or a school different things, and a
new application is offered only when it can succeed (seed 01: "已建账"和"建账失败"用户均进入建账
结果页; seed 03 Q2: employee insurance must be stopped first).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from confirmations.models import Application

Kind = Application.FailureKind


class Reapply(enum.Enum):
    """When a new application may follow a failed one."""

    AFTER_STOPPING = "after_stopping"  # the student stops the other insurance first
    AFTER_CORRECTION = "after_correction"  # the school corrects the record first
    NEVER = "never"  # the same application is retried (automatically, or by the district)


@dataclass(frozen=True)
class FailureGuide:
    kind: str
    label: str  # short, for lists
    student_step: str  # what the student does next, on the result page
    staff_step: str  # what the school or district does next, on the desk and in the workbook
    reapply: Reapply


GUIDES: dict[str, FailureGuide] = {
    Kind.NAME_MISMATCH: FailureGuide(
        kind=Kind.NAME_MISMATCH,
        label="姓名不一致",
        student_step=(
            "您的证件号码已有一个医保账户，但登记的姓名与院校名单中的不同。"
            "请联系院校医保经办老师核对名单中的姓名；院校更正名单后，您可以重新申请。"
            "如名单中的姓名无误，请携带身份证件到就近的医保经办机构核实已有账户的姓名。"
        ),
        staff_step="核对名单中的姓名与证件；更正记录后，由学生重新申请或院校重新代确认",
        reapply=Reapply.AFTER_CORRECTION,
    ),
    Kind.EMPLOYEE_INSURANCE: FailureGuide(
        kind=Kind.EMPLOYEE_INSURANCE,
        label="已参加职工医保",
        student_step=(
            "您已参加职工基本医疗保险。请先联系参保地医保部门停止职工医保待遇，"
            "停止后再重新申请参保确认（也可请院校重新代为确认）。"
        ),
        staff_step="告知学生先到参保地医保部门停止职工医保待遇；停止后由学生重新申请或院校重新代确认",
        reapply=Reapply.AFTER_STOPPING,
    ),
    Kind.TECHNICAL: FailureGuide(
        kind=Kind.TECHNICAL,
        label="系统原因",
        student_step=(
            "医保系统暂时未能为您建账，系统已自动重试。区医保中心会为您重新提交这份申请，"
            "您无需重新申请；如一两天后仍未成功，请联系院校医保经办老师。"
        ),
        staff_step="系统原因，已自动重试；请在工作台点击“重试”重新提交这份申请（无需学生重新申请）",
        reapply=Reapply.NEVER,
    ),
    Kind.OTHER: FailureGuide(
        kind=Kind.OTHER,
        label="其他业务原因",
        student_step=(
            "请联系院校医保经办老师核实失败原因；院校更正名单中的信息后，您可以重新申请。"
        ),
        staff_step="核实失败原因，更正记录后由学生重新申请或院校重新代确认",
        reapply=Reapply.AFTER_CORRECTION,
    ),
}


def failure_guide(kind: str) -> FailureGuide:
    """The guide for a failure kind; an unknown kind is treated as "other"."""
    return GUIDES.get(kind, GUIDES[Kind.OTHER])


def reapply_allowed(failed: Application) -> bool:
    """Whether a new application after this failed one can succeed, as far as the portal knows.

    Employee insurance: once stopped (only the student knows; the page says so first).
    Name mismatch and other business reasons: once the school has saved the record since the
    failure. Technical: never — the same application is retried instead.
    """
    reapply = failure_guide(failed.failure_kind).reapply
    if reapply is Reapply.AFTER_STOPPING:
        return True
    if reapply is Reapply.AFTER_CORRECTION:
        return bool(failed.processed_at and failed.record.updated_at > failed.processed_at)
    return False


def refusal_message(failed: Application) -> str:
    """Why a new confirmation after `failed` is refused (for the student and the school)."""
    guide = failure_guide(failed.failure_kind)
    if guide.reapply is Reapply.NEVER:
        return (
            f"上次建账因{guide.label}未成功（统一审批编号 {failed.approval_number}），"
            "这份申请将由系统或区医保中心重试，无需重新确认"
        )
    return f"上次建账失败（{failed.failure_reason}），请院校先更正名单中的信息后再重新确认"
