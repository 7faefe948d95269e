"""Filers' and district handlers' pages: progress desk, activation list, batch confirmation,
reminders, reconciliation and query. Every list starts from `records_visible_to(user)`.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    QueryDict,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from audit.services import Action, audit_record
from confirmations.failures import failure_guide
from confirmations.models import PolicyYear
from desk import exports, pictures, selectors, services
from desk.forms import (
    AttestForm,
    IdListForm,
    QueryForm,
    RecordFilterForm,
    SchoolCodeForm,
    SchoolForm,
)
from desk.models import IdListUpload
from enrollment.masking import mask_phone
from enrollment.models import StudentRecord
from enrollment.selectors import LIST_ORDER, keyed_page, records_search, records_visible_to
from enrollment.views import XLSX, parse_ids, xlsx_response
from enrollment.workbooks import build_id_list_template
from schools.models import School
from schools.scoping import campuses_visible_to, schools_visible_to
from security.searches import Search, search_from, search_redirect

PER_PAGE = 50
ACTIVATION_FILTER_FIELDS = ("school", "campus", "status", "q", "full_id")
QUERY_RESULTS = 20


def _year(policy_year: PolicyYear | None) -> int:
    return policy_year.enrollment_year if policy_year else timezone.localdate().year


def _filtered(
    request: HttpRequest, year: int
) -> tuple[RecordFilterForm, QuerySet[StudentRecord], Search]:
    """The user's records for the year, filtered as the search says, with their status.

    The filter comes from the token the list page's POST left (`?s=`), or from plain
    parameters that carry nothing personal (`?campus=…&status=…`): the same for the page, its
    pagination, its export and "confirm all matching". An invalid filter (a school out of
    scope, a search longer than allowed) matches nothing: dropping it would widen the list,
    and with it "confirm all matching" or an export.
    """
    user = request.user
    search = search_from(request, page="activation")
    form = RecordFilterForm(
        search.data,
        schools=schools_visible_to(user),
        campuses=campuses_visible_to(user).order_by("code"),
    )
    # Filtered without the status annotations (filter_by_status needs none): a page or a count
    # then reads records and indexes only; the view annotates the rows it shows.
    records = records_visible_to(user).filter(enrollment_year=year)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data.get("school"):
            records = records.filter(school=data["school"])
        if data.get("campus"):
            records = records.filter(campus=data["campus"])
        records = selectors.filter_by_status(records, data.get("status") or "")
        records = records_search(records, data.get("q") or "")
    elif form.is_bound or search.expired:
        records = records.none()
    return form, records.order_by(*LIST_ORDER), search


def _filter_summary(form: RecordFilterForm) -> dict:
    """What an export was filtered by, for the audit trail (the search text masked)."""
    from security.logmask import mask_personal

    if not form.is_bound or not form.is_valid():
        return {}
    data = form.cleaned_data
    return {
        "school": data["school"].code if data.get("school") else "",
        "campus": data["campus"].code if data.get("campus") else "",
        "status": data.get("status") or "",
        "q": mask_personal(data.get("q") or ""),
    }


def _filter_refusal(form: RecordFilterForm, search: Search, outcome: str) -> str:
    """Why an action on "all matching" must not run: its filter is invalid or has expired."""
    if search.expired:
        return f"查询条件已过期（超过 1 小时），{outcome}。请重新查询后再操作"
    if not form.is_bound or form.is_valid():
        return ""
    problems = "；".join(
        f"{form.fields[name].label}：{'、'.join(errors)}" for name, errors in form.errors.items()
    )
    return f"筛选条件有误（{problems}），{outcome}。请改正筛选条件后重试"


def _scope_name(user) -> str:
    if user.is_city_admin:
        return "全市"
    if user.is_district_handler:
        return f"{user.district.name}（您经办的院校）"
    return "您经办的院校"


@login_required
def desk(request: HttpRequest) -> HttpResponse:
    policy_year = PolicyYear.current()
    records = records_visible_to(request.user).filter(enrollment_year=_year(policy_year))
    failed = selectors.latest_failures(records).order_by("-processed_at")[:200]
    progress = selectors.campus_progress(records, campuses_visible_to(request.user))
    activity = {}
    if policy_year is not None:
        last = min(timezone.localdate(), policy_year.last_open_day)
        activity = selectors.daily_activity(records, first=policy_year.opens_on, last=last)
    return render(
        request,
        "desk/desk.html",
        {
            "policy_year": policy_year,
            "progress": progress,
            "pictures": pictures.desk_pictures(
                progress, activity, policy_year=policy_year, scope=_scope_name(request.user)
            ),
            "late": selectors.late_applications(records)[:100],
            "failed": [
                (application, failure_guide(application.failure_kind)) for application in failed
            ],
            "batches": selectors.batches_visible_to(request.user)[:10],
            "remind_form": SchoolForm(schools=schools_visible_to(request.user)),
        },
    )


@login_required
def desk_numbers(request: HttpRequest) -> JsonResponse:
    """The desk's numbers, for its page to update them in place (no reload: a reload wipes a
    half-filled form)."""
    policy_year = PolicyYear.current()
    records = records_visible_to(request.user).filter(enrollment_year=_year(policy_year))
    progress = selectors.campus_progress(records, campuses_visible_to(request.user))
    return JsonResponse(
        {
            "campuses": {
                row["campus__code"]: {key: row[key] for key in selectors.PROGRESS_COUNTS}
                for row in progress
            },
            "late": selectors.late_applications(records).count(),
            "failed": selectors.latest_failures(records).count(),
            "updated_at": timezone.localtime().strftime("%H:%M"),
        }
    )


@login_required
@require_http_methods(["GET", "POST"])
def activation(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":  # the filter may carry an ID number: keep it out of the URL
        return search_redirect(request, page="activation", fields=ACTIVATION_FILTER_FIELDS)
    policy_year = PolicyYear.current()
    form, records, search = _filtered(request, _year(policy_year))
    page = _status_page(records, request.GET.get("page"))
    full_id = bool(form.is_bound and form.is_valid() and form.cleaned_data.get("full_id"))
    if full_id and page.object_list:
        audit_record(
            action=Action.ID_DISPLAY,
            request=request,
            target="activation list",
            detail={"records": [record.pk for record in page.object_list]},
        )
    for record in page:
        record.selectable = selectors.can_confirm_on_behalf(record)
    return render(
        request,
        "desk/activation.html",
        {
            "form": form,
            "page": page,
            "rows": [
                (record, exports.activation_row(page.start_index() + i, record, full_id=full_id))
                for i, record in enumerate(page)
            ],
            "query": search.query,
            "expired": search.expired,
            "attest_form": AttestForm(),
            "policy_year": policy_year,
            "channel_open": bool(policy_year and policy_year.is_open()),
        },
    )


def _status_page(records: QuerySet[StudentRecord], number: str | None) -> Page:
    """A page of records with their status subqueries run for the 50 shown only."""
    return keyed_page(
        records,
        number,
        per_page=PER_PAGE,
        shown=lambda rows: selectors.records_with_status(rows.select_related("school", "campus")),
    )


@login_required
def activation_export(request: HttpRequest) -> HttpResponse:
    form, records, search = _filtered(request, _year(PolicyYear.current()))
    if refusal := _filter_refusal(form, search, "未导出"):
        messages.error(request, refusal)
        return redirect(f"{reverse('desk:activation')}?{request.GET.urlencode()}")
    detail = {"filter": _filter_summary(form), "rows": records.count()}
    workbook = exports.activation_workbook(
        selectors.records_with_status(records.select_related("school", "campus"))
    )
    audit_record(action=Action.EXPORT, request=request, target="activation list", detail=detail)
    # The export carries full ID numbers (the school's own data): a full-ID display as well.
    audit_record(
        action=Action.ID_DISPLAY,
        request=request,
        target="activation export",
        detail={**detail, "full_id_numbers": True},
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    # Streamed from the temporary file (closed by the response): memory stays flat.
    return FileResponse(
        workbook,
        as_attachment=True,
        filename=f"新生人员账户激活与启用情况-{stamp}.xlsx",
        content_type=XLSX,
    )


@login_required
@require_POST
def batch_confirm(request: HttpRequest) -> HttpResponse:
    policy_year = PolicyYear.current()
    if policy_year is None:
        messages.error(request, "本年度参保确认尚未开放")
        return redirect("desk:activation")
    if request.POST.get("scope") == "all_matching":
        form, records, search = _filtered(request, policy_year.enrollment_year)
        if refusal := _filter_refusal(form, search, "未代确认任何学生"):
            messages.error(request, refusal)
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
        request.POST or None, request.FILES or None, schools=schools_visible_to(request.user)
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
    # Its creator, and only while they may still file for its school (current designations).
    upload = get_object_or_404(
        IdListUpload.objects.defer("content"),
        pk=upload_id,
        created_by=request.user,
        school__in=schools_visible_to(request.user),
    )
    if upload.state == IdListUpload.State.DONE and upload.batch_id:
        return redirect("desk:batch_detail", batch_id=upload.batch_id)
    return render(request, "desk/id_list_detail.html", {"upload": upload})


@login_required
def batch_template(request: HttpRequest) -> HttpResponse:
    return xlsx_response(build_id_list_template(), "代确认名单模板.xlsx")


@login_required
def batch_detail(request: HttpRequest, batch_id: str) -> HttpResponse:
    batch = get_object_or_404(selectors.batches_visible_to(request.user), pk=batch_id)
    if not selectors.batch_in_scope(request.user, batch):  # a designation was withdrawn since
        raise Http404
    total, lines = selectors.batch_summary(batch)
    mismatches = [
        item for item in batch.results.get("skipped", []) if item.get("kind") == "name_mismatch"
    ]
    if mismatches:  # full ID numbers the filer typed, shown back beside the roster's names
        audit_record(
            action=Action.ID_DISPLAY,
            request=request,
            target=f"batch:{batch.pk}",
            detail={"name_mismatches": len(mismatches)},
        )
    return render(
        request,
        "desk/batch_detail.html",
        {
            "batch": batch,
            "total": total,
            "lines": lines,
            "lines_total": sum(line.count for line in lines),
        },
    )


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


def _reminder_school(request: HttpRequest, data: QueryDict) -> tuple[School, PolicyYear] | None:
    """The school a reminder is for (one of the user's) and the open policy year; None, with
    the message said, when either is missing."""
    form = SchoolForm(data, schools=schools_visible_to(request.user))
    policy_year = PolicyYear.current()
    if not form.is_valid() or policy_year is None:
        messages.error(request, "请选择您经办的院校")
        return None
    return form.cleaned_data["school"], policy_year


@login_required
def remind_preview(request: HttpRequest) -> HttpResponse:
    """Who a reminder would text (how many, and the list on request), before sending."""
    chosen = _reminder_school(request, request.GET)
    if chosen is None:
        return redirect("desk:desk")
    school, policy_year = chosen
    plan = services.reminder_plan(user=request.user, school=school, policy_year=policy_year)
    show_list = request.GET.get("list") == "1"
    recipients = (
        StudentRecord.objects.filter(pk__in=plan.record_ids)
        .select_related("campus")
        .order_by("campus_code", "student_number")
        if show_list
        else []
    )
    return render(
        request,
        "desk/remind_confirm.html",
        {
            "plan": plan,
            "school": school,
            "policy_year": policy_year,
            "channel_open": policy_year.is_open(),
            "show_list": show_list,
            "recipients": [(record, mask_phone(record.phone)) for record in recipients],
        },
    )


@login_required
@require_POST
def remind(request: HttpRequest) -> HttpResponse:
    chosen = _reminder_school(request, request.POST)
    if chosen is None:
        return redirect("desk:desk")
    school, policy_year = chosen
    preview = f"{reverse('desk:remind_preview')}?school={school.pk}"
    expected = request.POST.get("expected", "")
    if not expected.isdigit():  # not confirmed on the preview page: show it first
        return redirect(preview)
    try:
        reminder = services.reminders_send(
            user=request.user, school=school, policy_year=policy_year, expected=int(expected)
        )
    except services.ActionRefused as refused:
        messages.error(request, refused.message)
        return redirect(preview)
    messages.success(
        request, f"已向 {reminder.school.name} {reminder.recipients} 名未确认的学生发送提醒短信"
    )
    return redirect("desk:desk")


@login_required
def reconciliation_export(request: HttpRequest) -> HttpResponse:
    policy_year = PolicyYear.current()
    records = records_visible_to(request.user).filter(enrollment_year=_year(policy_year))
    form = SchoolCodeForm(request.GET)
    if not form.is_valid():
        messages.error(request, "院校代码应为 4 位数字、总分校编码应为 6 位数字，未导出")
        return redirect("desk:desk")
    school_code = form.cleaned_data["school"]
    campus_code = form.cleaned_data["campus"]
    campuses = campuses_visible_to(request.user)
    if school_code:
        records = records.filter(school__code=school_code)
        campuses = campuses.filter(school__code=school_code)
    if campus_code:
        records = records.filter(campus__code=campus_code)
        campuses = campuses.filter(code=campus_code)
    failures = selectors.latest_failures(records).order_by("record__campus_code")
    content = exports.reconciliation_workbook(
        selectors.campus_progress(records, campuses), failures
    )
    audit_record(
        action=Action.EXPORT,
        request=request,
        target="reconciliation",
        detail={"filter": {"school": school_code, "campus": campus_code}, "rows": records.count()},
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    label = campus_code or school_code or "全部"
    return xlsx_response(content, f"新生参保对账-{label}-{stamp}.xlsx")


@login_required
@require_http_methods(["GET", "POST"])
def query(request: HttpRequest) -> HttpResponse:
    """A student's record, applications and account — as far as they came through the
    user's own scope: an account created through another school's record is not shown."""
    if request.method == "POST":  # searched by ID number: keep it out of the URL
        return search_redirect(request, page="query", fields=("q",))
    search = search_from(request, page="query")
    form = QueryForm(search.data)
    results = []
    if form.is_bound and form.is_valid() and form.cleaned_data["q"]:
        results = selectors.query_results(
            records_visible_to(request.user), form.cleaned_data["q"], limit=QUERY_RESULTS
        )
        if results:
            audit_record(
                action=Action.ID_DISPLAY,
                request=request,
                target="query",
                detail={"records": [result["record"].pk for result in results]},
            )
    return render(
        request,
        "desk/query.html",
        {"form": form, "results": results, "searched": form.is_bound, "expired": search.expired},
    )
