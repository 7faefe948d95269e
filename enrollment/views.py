from __future__ import annotations

import re
from itertools import zip_longest
from urllib.parse import parse_qsl, quote, urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from audit.services import Action, audit_record
from enrollment import rules, selectors, services, workbooks
from enrollment.forms import (
    RecordSearchForm,
    RosterUploadForm,
    StudentRecordForm,
    current_enrollment_year,
)
from enrollment.models import RosterUpload, StudentRecord
from schools.models import School
from schools.scoping import (
    campuses_fileable_by,
    campuses_visible_to,
    schools_fileable_by,
    schools_visible_to,
)
from security.searches import search_from, search_redirect

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ERRORS_PER_PAGE = 100
RECORDS_PER_PAGE = 50


_ID = re.compile(r"^[0-9]{1,18}$")


def parse_ids(values: list[str]) -> list[int]:
    """Record ids from checkboxes; anything that is not a plain, bounded number is dropped."""
    return [int(value) for value in values if _ID.match(value)]


def xlsx_response(content: bytes, file_name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(file_name)}"
    return response


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    year = current_enrollment_year()
    return render(
        request,
        "enrollment/dashboard.html",
        {
            "year": year,
            "campuses": selectors.campus_progress(request.user, year=year),
            "uploads": selectors.uploads_visible_to(request.user)[:10],
        },
    )


@login_required
def template_download(request: HttpRequest) -> HttpResponse:
    campuses = campuses_fileable_by(request.user)
    school_code = request.GET.get("school", "")
    if school_code:
        campuses = campuses.filter(school__code=school_code)
    codes = list(campuses.values_list("code", flat=True))
    name = f"新生名单导入模板{'-' + school_code if school_code else ''}.xlsx"
    return xlsx_response(workbooks.build_template(campus_codes=codes), name)


@login_required
@require_http_methods(["GET", "POST"])
def upload_new(request: HttpRequest) -> HttpResponse:
    schools = schools_fileable_by(request.user).filter(status=School.Status.ACTIVE)
    form = RosterUploadForm(request.POST or None, request.FILES or None, schools=schools)
    if request.method == "POST" and form.is_valid():
        uploaded = form.cleaned_data["file"]
        upload = services.roster_upload_create(
            user=request.user,
            school=form.cleaned_data["school"],
            year=form.cleaned_data["year"],
            file_name=uploaded.name[:255],
            content=uploaded.read(),
        )
        return redirect("enrollment:upload_detail", upload_id=upload.pk)
    return render(request, "enrollment/upload_new.html", {"form": form, "schools": schools})


def _upload_for(request: HttpRequest, upload_id: str, *, results: bool = False) -> RosterUpload:
    uploads = selectors.uploads_visible_to(request.user)
    if results:  # the stored errors and changes are bounded (importer.REPORTED_*)
        uploads = uploads.defer(None).defer("content", "error_workbook")
    return get_object_or_404(uploads, pk=upload_id)


@login_required
def upload_detail(request: HttpRequest, upload_id: str) -> HttpResponse:
    upload = _upload_for(request, upload_id, results=True)
    errors_page = Paginator(upload.errors, ERRORS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "enrollment/upload_detail.html",
        {
            "upload": upload,
            "errors_page": errors_page,
            "more_errors": max(0, upload.errors_total - len(upload.errors)),
            "changes": upload.changes,
            "more_changes": max(0, upload.changes_total - len(upload.changes)),
            "State": RosterUpload.State,
            "header_pairs": list(
                zip_longest(
                    upload.refusal.get("expected", []),
                    upload.refusal.get("found", []),
                    fillvalue="",
                )
            ),
        },
    )


@login_required
def upload_status(request: HttpRequest, upload_id: str) -> JsonResponse:
    upload = _upload_for(request, upload_id)
    return JsonResponse(
        {
            "state": upload.state,
            "state_label": upload.get_state_display(),
            "rows_total": upload.rows_total,
            "rows_checked": upload.rows_checked,
            "in_progress": upload.is_in_progress,
        }
    )


@login_required
def upload_error_workbook(request: HttpRequest, upload_id: str) -> HttpResponse:
    upload = _upload_for(request, upload_id)
    if upload.state not in {RosterUpload.State.CHECKED, RosterUpload.State.COMMITTED}:
        raise Http404
    if upload.purged_at is not None:  # the file's retention period is over
        raise Http404
    # Built once by the worker that checked the file; never parsed again here.
    content = (
        RosterUpload.objects.filter(pk=upload.pk).values_list("error_workbook", flat=True).first()
    )
    if not content:
        messages.info(request, "错误标注文件正在生成，请稍候几秒再下载")
        return redirect("enrollment:upload_detail", upload_id=upload.pk)
    detail = {"file": "error workbook", "rows": upload.rows_total}
    target = f"upload:{upload.pk}"
    audit_record(
        action=Action.EXPORT, request=request, school=upload.school, target=target, detail=detail
    )
    # The workbook repeats the file's rows, full ID numbers included.
    audit_record(
        action=Action.ID_DISPLAY,
        request=request,
        school=upload.school,
        target=target,
        detail={**detail, "full_id_numbers": True},
    )
    stem = upload.file_name.rsplit(".", 1)[0]
    return xlsx_response(content, f"{stem}-错误标注.xlsx")


@login_required
@require_POST
def upload_commit(request: HttpRequest, upload_id: str) -> HttpResponse:
    upload = _upload_for(request, upload_id)
    if services.roster_upload_request_commit(upload=upload):
        audit_record(
            action=Action.UPLOAD_COMMIT,
            request=request,
            school=upload.school,
            target=f"upload:{upload.pk}",
            detail={"rows_valid": upload.rows_valid},
        )
        messages.info(request, "已开始提交有效记录，请稍候")
    else:
        messages.error(request, "该文件当前不能提交（可能已提交，或没有有效记录）")
    return redirect("enrollment:upload_detail", upload_id=upload.pk)


# --- records ---------------------------------------------------------------------------------


RECORD_SEARCH_FIELDS = ("q", "school", "year", "no_mobile", "campus")


@login_required
@require_http_methods(["GET", "POST"])
def record_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":  # a search by ID number or name stays out of the URL
        return search_redirect(request, page="records", fields=RECORD_SEARCH_FIELDS)
    search = search_from(request, page="records")
    schools = schools_visible_to(request.user)
    form = RecordSearchForm(
        search.data, schools=schools, campuses=campuses_visible_to(request.user).order_by("code")
    )
    records = selectors.records_visible_to(request.user)
    year = current_enrollment_year()
    if form.is_bound and form.is_valid():
        year = form.cleaned_data.get("year") or year
        if form.cleaned_data.get("school"):
            records = records.filter(school=form.cleaned_data["school"])
        if form.cleaned_data.get("campus"):
            records = records.filter(campus=form.cleaned_data["campus"])
        records = selectors.records_search(records, form.cleaned_data.get("q", ""))
        if form.cleaned_data.get("no_mobile"):
            records = selectors.records_without_mobile(records)
    records = records.filter(enrollment_year=year).order_by(*selectors.LIST_ORDER)
    page = selectors.keyed_page(
        records,
        request.GET.get("page"),
        per_page=RECORDS_PER_PAGE,
        shown=lambda rows: selectors.records_marking_confirmed(
            rows.select_related("campus", "school")
        ),
    )
    back = "&".join(filter(None, [search.query, f"page={page.number}" * (page.number > 1)]))
    if page.object_list:
        audit_record(
            action=Action.ID_DISPLAY,
            request=request,
            target="records list",
            detail={"records": [record.pk for record in page.object_list]},
        )
    return render(
        request,
        "enrollment/record_list.html",
        {
            "form": form,
            "page": page,
            "rows": [
                (record, rules.record_notes(record.id_type, record.id_number, record.phone))
                for record in page
            ],
            "query": search.query,
            "expired": search.expired,
            "year": year,
            "back": f"{request.path}?{back}" if back else request.path,  # where an edit returns
        },
    )


# Query parameters a `next` address may carry: the list's own (a search token, a page, the
# non-personal filters). Never a name, an ID number or a phone.
_NEXT_PARAMETERS = frozenset({"s", "page", "school", "campus", "status", "year", "no_mobile"})
_NEXT_VALUE = re.compile(r"^[A-Za-z0-9_-]{0,24}$")
_LONG_DIGITS = re.compile(r"[0-9]{7,}")


def safe_next(request: HttpRequest) -> str | None:
    """The page to return to after a form: a path on this site whose query holds only the
    lists' own parameters, or None."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not target.startswith("/") or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.fragment:
        return None
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _NEXT_PARAMETERS or not _NEXT_VALUE.match(value):
            return None
        if key != "s" and _LONG_DIGITS.search(value):
            return None
    return target


def _record_form_page(
    request: HttpRequest, *, record: StudentRecord | None, school: School | None
) -> HttpResponse:
    # A new record goes to a campus the user files for; a correction stays within what they see.
    scope = campuses_fileable_by if record is None else campuses_visible_to
    campuses = scope(request.user)
    if school is not None:
        campuses = campuses.filter(school=school)
    campus_codes = list(campuses.values_list("code", flat=True))
    initial: dict[str, object] = {}
    if record is not None:
        initial = services.record_form_values(record)
        initial |= StudentRecordForm.opened_initial(record.version, dict(initial))
    form = StudentRecordForm(request.POST or None, initial=initial, campus_codes=campus_codes)
    back = safe_next(request)
    if request.method == "GET" and record is not None:
        audit_record(action=Action.ID_DISPLAY, request=request, record=record, target="record form")
    if request.method == "POST" and form.is_valid():
        raw = form.template_data()
        seen_version, seen_values = form.seen()
        target_school = school
        if target_school is None:
            campus = campuses.filter(code=raw.get("campus_code")).first()
            target_school = campus.school if campus else None
        if target_school is None:
            form.add_rule_errors(
                services.record_errors_without_campus(raw=raw, year=current_enrollment_year())
            )
        else:
            try:
                saved = services.record_save(
                    user=request.user,
                    school=target_school,
                    year=record.enrollment_year if record else current_enrollment_year(),
                    raw=raw,
                    record=record,
                    seen_version=seen_version,
                    seen_values=seen_values,
                )
            except services.RecordRejected as rejected:
                if rejected.summary:
                    form.add_error(None, rejected.summary)
                form.add_rule_errors(rejected.errors)
                if isinstance(rejected, services.RecordChanged):
                    current = rejected.current
                    form.show_current(current.version, services.record_form_values(current))
            else:
                messages.success(request, f"已保存 {saved.name} 的记录")
                return redirect(back or "enrollment:record_list")
    return render(
        request,
        "enrollment/record_form.html",
        {"form": form, "record": record, "back": back},
    )


@login_required
@require_http_methods(["GET", "POST"])
def record_create(request: HttpRequest) -> HttpResponse:
    return _record_form_page(request, record=None, school=None)


@login_required
@require_http_methods(["GET", "POST"])
def record_edit(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(selectors.records_visible_to(request.user), pk=pk)
    return _record_form_page(request, record=record, school=record.school)


@login_required
@require_POST
def record_delete(request: HttpRequest) -> HttpResponse:
    ids = parse_ids(request.POST.getlist("ids"))
    back = safe_next(request)  # the list page and search the deletion started from
    records = selectors.records_visible_to(request.user).filter(pk__in=ids)
    if not ids or not records.exists():
        messages.error(request, "请先勾选要删除的记录")
        return redirect(back or "enrollment:record_list")
    if request.POST.get("confirm") != "yes":
        listed = selectors.records_marking_confirmed(records).order_by("student_number")
        deletable = listed.filter(confirmed=False)
        return render(
            request,
            "enrollment/record_delete_confirm.html",
            {
                "records": deletable[:500],
                "count": deletable.count(),
                "kept": listed.filter(confirmed=True)[:500],
                "kept_count": listed.filter(confirmed=True).count(),
                "ids": list(deletable.values_list("pk", flat=True)),
                "back": back,
            },
        )
    outcome = services.records_delete(user=request.user, record_ids=ids)
    messages.success(request, f"已删除 {outcome.deleted} 条记录")
    if outcome.kept_confirmed:
        messages.error(
            request,
            f"{outcome.kept_confirmed} 条记录的学生已经参保确认，不能删除；如信息有误请编辑更正",
        )
    return redirect(back or "enrollment:record_list")
