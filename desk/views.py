"""Filers' and district handlers' pages: progress desk, activation list, batch confirmation,
reminders, reconciliation and query. Every list starts from `records_visible_to(user)`.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from confirmations.models import Application, BatchConfirmation, InsuranceAccount, PolicyYear
from desk import exports, selectors, services
from desk.forms import AttestForm, IdListForm, RecordFilterForm, SchoolForm
from desk.models import IdListUpload
from enrollment.models import StudentRecord
from enrollment.selectors import records_search, records_visible_to
from enrollment.views import parse_ids, xlsx_response
from enrollment.workbooks import header_cells, save
from schools.scoping import campuses_fileable_by, schools_fileable_by

PER_PAGE = 50


def _year(policy_year: PolicyYear | None) -> int:
    return policy_year.enrollment_year if policy_year else timezone.localdate().year


def _filtered(request: HttpRequest, year: int) -> tuple[RecordFilterForm, QuerySet[StudentRecord]]:
    """The user's records for the year, filtered as the form says, with their status.

    An invalid filter (a school out of scope, a search longer than allowed) matches nothing:
    dropping it would widen the list, and with it "confirm all matching" or an export.
    """
    user = request.user
    form = RecordFilterForm(
        request.GET or None,
        schools=schools_fileable_by(user),
        campuses=campuses_fileable_by(user).order_by("code"),
    )
    records = records_visible_to(user).filter(enrollment_year=year)
    records = selectors.records_with_status(records.select_related("school", "campus"))
    if form.is_valid():
        data = form.cleaned_data
        if data.get("school"):
            records = records.filter(school=data["school"])
        if data.get("campus"):
            records = records.filter(campus=data["campus"])
        records = selectors.filter_by_status(records, data.get("status") or "")
        records = records_search(records, data.get("q") or "")
    elif form.is_bound:
        records = records.none()
    return form, records.order_by("school__code", "campus_code", "student_number")


def _filter_refusal(form: RecordFilterForm, outcome: str) -> str:
    problems = "；".join(
        f"{form.fields[name].label}：{'、'.join(errors)}" for name, errors in form.errors.items()
    )
    return f"筛选条件有误（{problems}），{outcome}。请改正筛选条件后重试"


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@login_required
def desk(request: HttpRequest) -> HttpResponse:
    policy_year = PolicyYear.current()
    records = records_visible_to(request.user).filter(enrollment_year=_year(policy_year))
    failed = (
        selectors.applications_in_scope(records)
        .filter(state=Application.State.FAILED)
        .exclude(record__applications__state__in=["pending", "created"])
        .order_by("-processed_at")
    )
    return render(
        request,
        "desk/desk.html",
        {
            "policy_year": policy_year,
            "progress": selectors.campus_progress(records),
            "late": selectors.late_applications(records)[:100],
            "failed": failed[:200],
            "batches": BatchConfirmation.objects.filter(created_by=request.user)[:10],
            "remind_form": SchoolForm(schools=schools_fileable_by(request.user)),
        },
    )


@login_required
def activation(request: HttpRequest) -> HttpResponse:
    policy_year = PolicyYear.current()
    form, records = _filtered(request, _year(policy_year))
    page = Paginator(records, PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "desk/activation.html",
        {
            "form": form,
            "page": page,
            "rows": [
                (record, exports.activation_row(page.start_index() + i, record))
                for i, record in enumerate(page)
            ],
            "query": _query_without_page(request),
            "attest_form": AttestForm(),
            "policy_year": policy_year,
            "channel_open": bool(policy_year and policy_year.is_open()),
        },
    )


@login_required
def activation_export(request: HttpRequest) -> HttpResponse:
    form, records = _filtered(request, _year(PolicyYear.current()))
    if form.is_bound and not form.is_valid():
        messages.error(request, _filter_refusal(form, "未导出"))
        return redirect(f"{reverse('desk:activation')}?{request.GET.urlencode()}")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return xlsx_response(
        exports.activation_workbook(records), f"新生人员账户激活与启用情况-{stamp}.xlsx"
    )


@login_required
@require_POST
def batch_confirm(request: HttpRequest) -> HttpResponse:
    policy_year = PolicyYear.current()
    if policy_year is None:
        messages.error(request, "本年度参保确认尚未开放")
        return redirect("desk:activation")
    if request.POST.get("scope") == "all_matching":
        form, records = _filtered(request, policy_year.enrollment_year)
        if form.is_bound and not form.is_valid():
            messages.error(request, _filter_refusal(form, "未代确认任何学生"))
            return redirect(f"{reverse('desk:activation')}?{request.GET.urlencode()}")
        record_ids = list(records.values_list("pk", flat=True))
        source = "按筛选条件全选"
    else:
        record_ids = parse_ids(request.POST.getlist("ids"))
        source = "勾选"
    try:
        batch = services.batch_confirmation_create(
            user=request.user,
            policy_year=policy_year,
            record_ids=record_ids,
            attested=request.POST.get("attested") == "on",
            source=source,
        )
    except services.ActionRefused as refused:
        messages.error(request, refused.message)
        return redirect(f"{reverse('desk:activation')}?{request.GET.urlencode()}")
    return redirect("desk:batch_detail", batch_id=batch.pk)


@login_required
@require_http_methods(["GET", "POST"])
def batch_upload(request: HttpRequest) -> HttpResponse:
    policy_year = PolicyYear.current()
    form = IdListForm(
        request.POST or None, request.FILES or None, schools=schools_fileable_by(request.user)
    )
    if request.method == "POST" and form.is_valid() and policy_year is not None:
        uploaded = form.cleaned_data["file"]
        try:
            upload = services.id_list_upload_create(
                user=request.user,
                school=form.cleaned_data["school"],
                policy_year=policy_year,
                file_name=uploaded.name,
                content=uploaded.read(),
                attested=form.cleaned_data["attested"],
            )
        except services.ActionRefused as refused:
            form.add_error(None, refused.message)
        else:
            return redirect("desk:id_list_detail", upload_id=upload.pk)
    return render(request, "desk/batch_upload.html", {"form": form, "policy_year": policy_year})


@login_required
def id_list_detail(request: HttpRequest, upload_id: str) -> HttpResponse:
    upload = get_object_or_404(
        IdListUpload.objects.defer("content"), pk=upload_id, created_by=request.user
    )
    if upload.state == IdListUpload.State.DONE and upload.batch_id:
        return redirect("desk:batch_detail", batch_id=upload.batch_id)
    return render(request, "desk/id_list_detail.html", {"upload": upload})


@login_required
def batch_template(request: HttpRequest) -> HttpResponse:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("代确认名单")
    sheet.column_dimensions["A"].width = 24
    sheet.column_dimensions["B"].width = 14
    sheet.append(header_cells(sheet, ["证件号码", "姓名"]))
    return xlsx_response(save(workbook), "代确认名单模板.xlsx")


@login_required
def batch_detail(request: HttpRequest, batch_id: str) -> HttpResponse:
    batch = get_object_or_404(BatchConfirmation, pk=batch_id, created_by=request.user)
    return render(request, "desk/batch_detail.html", {"batch": batch})


@login_required
@require_POST
def retry(request: HttpRequest, application_id: int) -> HttpResponse:
    try:
        application = services.application_retry(user=request.user, application_id=application_id)
    except services.ActionRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(
            request, f"已重新提交 {application.name} 的建账申请（{application.approval_number}）"
        )
    return redirect("desk:desk")


@login_required
@require_POST
def remind(request: HttpRequest) -> HttpResponse:
    form = SchoolForm(request.POST, schools=schools_fileable_by(request.user))
    policy_year = PolicyYear.current()
    if not form.is_valid() or policy_year is None:
        messages.error(request, "请选择您经办的院校")
        return redirect("desk:desk")
    try:
        reminder = services.reminders_send(
            user=request.user, school=form.cleaned_data["school"], policy_year=policy_year
        )
    except services.ActionRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(
            request, f"已向 {reminder.school.name} {reminder.recipients} 名未确认的学生发送提醒短信"
        )
    return redirect("desk:desk")


@login_required
def reconciliation_export(request: HttpRequest) -> HttpResponse:
    policy_year = PolicyYear.current()
    records = records_visible_to(request.user).filter(enrollment_year=_year(policy_year))
    school_code = request.GET.get("school", "")
    if school_code:
        records = records.filter(school__code=school_code)
    failures = (
        selectors.applications_in_scope(records)
        .filter(state=Application.State.FAILED)
        .order_by("record__campus_code")
    )
    content = exports.reconciliation_workbook(selectors.campus_progress(records), failures)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return xlsx_response(content, f"新生参保对账-{school_code or '全部'}-{stamp}.xlsx")


@login_required
def query(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("q", "").strip()
    results = []
    if text:
        records = records_search(records_visible_to(request.user), text).select_related(
            "school", "campus"
        )[:20]
        for record in records:
            applications = list(
                record.applications.select_related("confirmed_by", "policy_year").order_by(
                    "-submitted_at"
                )
            )
            account = InsuranceAccount.objects.filter(id_number=record.id_number).first()
            results.append({"record": record, "applications": applications, "account": account})
    return render(request, "desk/query.html", {"q": text, "results": results})
