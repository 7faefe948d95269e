"""The freshman's pages (mobile first): identify, check the record, sign, follow the application.

The session holds the roster records whose phone received the code (`otp.code_verify`), and
nothing else: every page shows only those records and what was done through them.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import Action, audit_record
from confirmations import estimator, failures, otp, selectors, services
from confirmations.forms import CodeForm, EstimateForm, IdentifyForm, SignForm
from confirmations.models import Application, PolicyYear
from enrollment import rules
from enrollment.masking import mask_id_number, mask_name
from enrollment.rules import normalize_id_number
from schools.models import City
from security.client import client_ip

SESSION_STUDENT = "student"
SESSION_CODE = "student_code"
SESSION_RECORD = "student_record"

# Shown when the person's application this year came through a record this session does not
# hold: it says that one exists and how to see it, and nothing of it (school, number, state).
ELSEWHERE_TITLE = "本年度已办理"
ELSEWHERE_MESSAGE = (
    "您本年度的参保确认已经通过其他院校名单提交（或由院校代为确认），不能重复办理。"
    "如需查看办理进度和结果，请用该院校名单中登记的手机号接收验证码后查看，"
    "或联系院校医保经办老师。"
)


def identified_student(request: HttpRequest) -> dict | None:
    """The student this session identified (the roster records its code opened), or None."""
    student = request.session.get(SESSION_STUDENT)
    return student if student and student.get("record_ids") else None


def student_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        student = identified_student(request)
        if not student:
            return redirect(f"{reverse('student:identify')}?next={request.path}")
        request.student_record_ids = tuple(student["record_ids"])
        return view(request, *args, **kwargs)

    return wrapper


def with_policy_year(*, title: str, message: str) -> Callable:
    """Pass the current policy year to the view, or render a page saying it is not out yet."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            policy_year = PolicyYear.current()
            if policy_year is None:
                return render(
                    request, "confirmations/message.html", {"title": title, "message": message}
                )
            return view(request, policy_year, *args, **kwargs)

        return wrapper

    return decorator


def student_flow(view: Callable) -> Callable:
    """An identified student and the current policy year (or a page saying it is not open)."""
    return student_required(
        with_policy_year(title="暂未开放", message="本年度新生参保确认尚未开放，请留意院校通知。")(
            view
        )
    )


# The benefit pages are open to everyone: the year's table, with the student's dates if known.
benefits_year = with_policy_year(
    title="暂未发布", message="本年度大学生医保待遇尚未发布，请留意院校通知。"
)


def _benefit_table_context(policy_year: PolicyYear | None) -> dict:
    """What the benefit-table include needs: the year, its table and the table's sections."""
    if policy_year is None:
        return {"policy_year": None, "table": None, "sections": []}
    table = policy_year.benefit_table()
    return {"policy_year": policy_year, "table": table, "sections": estimator.table_sections(table)}


def _message(request: HttpRequest, title: str, message: str) -> HttpResponse:
    return render(request, "confirmations/message.html", {"title": title, "message": message})


def home(request: HttpRequest) -> HttpResponse:
    policy_year = PolicyYear.current()
    return render(
        request,
        "confirmations/home.html",
        {
            **_benefit_table_context(policy_year),
            "city": policy_year.city if policy_year else City.default(),
        },
    )


@sensitive_post_parameters("name", "id_number")
@require_http_methods(["GET", "POST"])
def identify(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(SESSION_CODE) or {}
    # 修改姓名或证件号码 from the code page: the inputs come back as typed (from the session,
    # never from the URL).
    initial = {"name": pending.get("name", ""), "id_number": pending.get("id_number", "")}
    form = IdentifyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        name, id_number = form.cleaned_data["name"], form.cleaned_data["id_number"]
        try:
            sent = otp.code_request(name=name, id_number=id_number, client_ip=client_ip(request))
        except otp.MalformedIdNumber as malformed:
            form.add_error("id_number", malformed.message)
        except otp.ResendTooSoon as too_soon:
            if _same_pair(pending, name, id_number):  # the code already sent is still good
                _flash_code_page(request, too_soon.message)
                pending["resend_at"] = time.time() + too_soon.wait
                return redirect("student:verify")
            form.add_error(None, too_soon.message)
        except otp.RateLimited as limited:
            form.add_error(None, limited.message)
        else:
            request.session[SESSION_CODE] = {
                "code_id": sent.code_id,
                "name": name.strip(),
                "id_number": normalize_id_number(id_number),
                "next": _safe_next(request.POST.get("next")),
                "resend_at": time.time() + otp.RESEND_AFTER.total_seconds(),
            }
            return redirect("student:verify")
    return render(
        request,
        "confirmations/identify.html",
        {"form": form, "next": request.GET.get("next", "") or pending.get("next", "")},
    )


def _same_pair(pending: dict, name: str, id_number: str) -> bool:
    return (
        bool(pending)
        and pending.get("id_number") == normalize_id_number(id_number)
        and rules.same_name(pending.get("name", ""), name)
    )


def _flash_code_page(request: HttpRequest, message: str, *, error: bool = False) -> None:
    """A message for the next GET of the code page (POST-redirect-GET: every page in the
    browser's history is a GET, so the back button returns to the code page)."""
    pending = request.session.get(SESSION_CODE)
    if pending is not None:
        pending["error" if error else "notice"] = message
        request.session.modified = True


def _safe_next(value: str | None) -> str:
    return value if value and value.startswith("/student/") else reverse("student:start")


@never_cache  # the countdown and the messages are of this moment
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(SESSION_CODE)
    if not pending:
        return redirect("student:identify")
    if request.method == "POST":
        form = CodeForm(request.POST)
        if not form.is_valid():
            _flash_code_page(request, form.errors["code"][0], error=True)
            return redirect("student:verify")
        record_ids = otp.code_verify(
            code_id=pending["code_id"],
            id_number=pending["id_number"],
            code=form.cleaned_data["code"],
        )
        if record_ids:
            request.session.cycle_key()
            request.session.pop(SESSION_CODE, None)
            request.session[SESSION_STUDENT] = {"record_ids": record_ids, "since": time.time()}
            request.session.set_expiry(settings.STUDENT_SESSION_SECONDS)
            audit_record(
                action=Action.STUDENT_SIGN_IN,
                request=request,
                id_number=pending["id_number"],
                target=f"code:{pending['code_id']}",
            )
            return redirect(pending["next"])
        audit_record(
            action=Action.STUDENT_SIGN_IN_FAILED,
            request=request,
            target=f"code:{pending['code_id']}",
        )
        _flash_code_page(request, otp.code_refusal(code_id=pending["code_id"]), error=True)
        return redirect("student:verify")
    error, notice = pending.pop("error", ""), pending.pop("notice", "")
    if error or notice:  # shown once; a page without a message writes no session
        request.session.modified = True
    return render(
        request,
        "confirmations/verify.html",
        {"form": CodeForm(), "error": error, "notice": notice, "wait": _resend_wait(pending)},
    )


def _resend_wait(pending: dict) -> int:
    """The seconds the code page counts down before 重新获取 (the server's, not a fixed 60).

    Kept in the session when a code is sent or a resend is refused (the refusal carries the
    database's answer: a code sent meanwhile from another device), so that the code page asks
    the database nothing; a session from before this was kept asks it.
    """
    if not pending.get("name"):
        return 0
    if "resend_at" in pending:
        return max(0, math.ceil(pending["resend_at"] - time.time()))
    return otp.resend_wait(name=pending["name"], id_number=pending["id_number"])


@sensitive_post_parameters()
@require_POST
def resend(request: HttpRequest) -> HttpResponse:
    """重新获取验证码 from the code page: a new code, or the seconds left, on the code page."""
    pending = request.session.get(SESSION_CODE)
    if not pending or not pending.get("name"):
        return redirect("student:identify")
    try:
        sent = otp.code_request(
            name=pending["name"], id_number=pending["id_number"], client_ip=client_ip(request)
        )
    except otp.ResendTooSoon as too_soon:
        pending["resend_at"] = time.time() + too_soon.wait
        _flash_code_page(request, too_soon.message)
    except (otp.RateLimited, otp.MalformedIdNumber) as refused:
        _flash_code_page(request, refused.message, error=True)
    else:
        pending["code_id"] = sent.code_id
        pending["resend_at"] = time.time() + otp.RESEND_AFTER.total_seconds()
        request.session.modified = True
        _flash_code_page(request, "验证码已重新发送，请使用最新收到的验证码")
    return redirect("student:verify")


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return redirect("student:home")


def _records(request: HttpRequest) -> list:
    """The session's roster records (every year), read once per request."""
    if not hasattr(request, "_student_records"):
        request._student_records = selectors.session_records(request.student_record_ids)
    return request._student_records


def _records_of_year(request: HttpRequest, policy_year: PolicyYear) -> list:
    return selectors.records_of_year(_records(request), policy_year)


def _person_state(request: HttpRequest, policy_year: PolicyYear) -> selectors.StudentState | None:
    records = _records(request)
    if not records:
        return None
    return selectors.student_state(records[0].id_number, policy_year)


def _done_elsewhere(state: selectors.StudentState, bound: tuple[int, ...]) -> bool:
    """The person's live (or final failed) application came through a record not held here."""
    if state.live is not None:
        return state.live.record_id not in bound
    failed = state.latest_failed
    return failed is not None and not state.can_reapply and failed.record_id not in bound


def _route(
    request: HttpRequest, policy_year: PolicyYear, *, again: bool = False
) -> HttpResponse | None:
    """Route by the person's state for the year, as 立即办理 does (None: the flow may go on).

    Seed 01: 已建账 and 建账失败 go to the result page, 已申请待审核 gets a notice, only 未建账
    starts the flow; seed 03: a waiting-period student is shown the waiting notice (the result
    page). After a failure the flow starts again only when the student asks for it from the
    result page (`again`) and a new application can succeed.

    The state is the person's, whichever school's record it came through, so that nobody
    applies twice; but what was done through a record this session does not hold is never
    shown, only that it exists.
    """
    state = _person_state(request, policy_year)
    if state is None:  # the records were deleted since the student identified
        request.session.flush()
        return redirect("student:identify")
    if _done_elsewhere(state, request.student_record_ids):
        return _message(request, ELSEWHERE_TITLE, ELSEWHERE_MESSAGE)
    if state.live is not None and state.live.is_pending:
        return render(request, "confirmations/pending_notice.html", {"application": state.live})
    if state.live is not None:
        return redirect("student:result", approval_number=state.live.approval_number)
    if state.latest_failed is not None and not (again and state.can_reapply):
        return redirect("student:result", approval_number=state.latest_failed.approval_number)
    return None


@student_flow
def start(request: HttpRequest, policy_year: PolicyYear) -> HttpResponse:
    """立即办理: route by the student's state for the policy year."""
    again = request.GET.get("again") == "1"  # 重新申请, from the result page of a failure
    if (routed := _route(request, policy_year, again=again)) is not None:
        return routed
    if not policy_year.is_open():
        return _message(request, "参保确认已结束", policy_year.closed_message() + "。")
    records = _records_of_year(request, policy_year)
    if not records:
        return _message(
            request,
            "未找到您的报到注册信息",
            "院校尚未上传您本年度的报到注册信息，或信息与您填写的姓名不一致。请联系院校医保经办老师。",
        )
    if len(records) == 1:
        request.session[SESSION_RECORD] = records[0].pk
        return redirect("student:record")
    return redirect("student:school")


@student_flow
@require_http_methods(["GET", "POST"])
def choose_school(request: HttpRequest, policy_year: PolicyYear) -> HttpResponse:
    records = _records_of_year(request, policy_year)
    error = ""
    if request.method == "POST":
        chosen = next((r for r in records if str(r.pk) == request.POST.get("record")), None)
        if chosen is not None:
            request.session[SESSION_RECORD] = chosen.pk
            return redirect("student:record")
        # Nothing is pre-selected (issue 13, defect 7): a student who only taps 下一步 is asked.
        error = "请选择您实际就读的院校"
    return render(
        request,
        "confirmations/choose_school.html",
        {"records": records, "error": error, "step": 1},
    )


def _chosen_record(request: HttpRequest, policy_year: PolicyYear):
    records = _records_of_year(request, policy_year)
    return next((r for r in records if r.pk == request.session.get(SESSION_RECORD)), None)


@student_flow
def check_record(request: HttpRequest, policy_year: PolicyYear) -> HttpResponse:
    record = _chosen_record(request, policy_year)
    if record is None:
        return redirect("student:start")
    return render(
        request,
        "confirmations/check_record.html",
        {
            "record": record,
            "masked_name": mask_name(record.name),
            "masked_id": mask_id_number(record.id_number),
            "residence_permit_hint": _residence_permit_hint(record.id_type),
            "step": 2,
            # 上一步: the school choice when there was one, else the page the flow began on.
            "back_url": reverse("student:school")
            if len(_records_of_year(request, policy_year)) > 1
            else reverse("student:home"),
        },
    )


def _residence_permit_hint(id_type: str) -> str:
    return rules.RESIDENCE_PERMIT_HINT if id_type in rules.TRAVEL_PERMIT_ID_TYPES else ""


@student_flow
@require_http_methods(["GET", "POST"])
def pledge(request: HttpRequest, policy_year: PolicyYear) -> HttpResponse:
    record = _chosen_record(request, policy_year)
    if record is None:
        return redirect("student:start")
    form = SignForm(request.POST or None)
    submitting = request.method == "POST" and form.is_valid()
    # A submission is checked by the service, which refuses an application made elsewhere
    # (answered below as here); the page itself asks first. The session's records share one
    # ID number: the chosen record's (no query for it).
    if not submitting and _done_elsewhere(
        selectors.student_state(record.id_number, policy_year), request.student_record_ids
    ):
        return _message(request, ELSEWHERE_TITLE, ELSEWHERE_MESSAGE)
    if submitting:
        try:
            signature = services.PledgeSignature(
                png=services.signature_from_data_url(form.cleaned_data["signature"]),
                client_ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
            application = services.application_submit(
                record=record, policy_year=policy_year, signature=signature
            )
        except services.ConfirmationRefused as refused:
            other = refused.application
            if other is not None and other.record_id not in request.student_record_ids:
                return _message(request, ELSEWHERE_TITLE, ELSEWHERE_MESSAGE)
            if other is not None and other.is_pending:
                return render(request, "confirmations/pending_notice.html", {"application": other})
            form.add_error(None, refused.message)
        else:
            request.session.pop(SESSION_RECORD, None)
            return redirect("student:submitted", approval_number=application.approval_number)
    text = services.pledge_text(record, policy_year, on=timezone.localdate())
    return render(
        request,
        "confirmations/pledge.html",
        {
            "form": form,
            "pledge_text": text,
            "policy_year": policy_year,
            "kept_signature": _signature_to_keep(request),
            "step": 3,
        },
    )


def _signature_to_keep(request: HttpRequest) -> str:
    """The drawing a refused POST carried, to put back on the canvas (issue 13, defect 6).

    Only a data URL that is a real PNG with ink on it goes back into the page; anything else
    is dropped and the student signs again.
    """
    data_url = request.POST.get("signature", "") if request.method == "POST" else ""
    if not data_url:
        return ""
    try:
        services.signature_from_data_url(data_url)
    except services.ConfirmationRefused:
        return ""
    return data_url


def _own_application(
    request: HttpRequest, approval_number: str, *, fields: tuple[str, ...] = ()
) -> Application:
    """One of the session's applications by its number (404 otherwise): with its record and
    school, or only `fields` (a page that shows a few: fewer columns to compile and load)."""
    applications = selectors.applications_through(request.student_record_ids)
    if fields:
        applications = applications.only(*fields)
    else:
        applications = applications.select_related("record__school")
    # The number is unique: no ORDER BY (its compiling cost more than the rest of the SQL).
    application = next(iter(applications.filter(approval_number=approval_number).order_by()), None)
    if application is None:
        raise Http404
    # Its year is almost always the current one, kept between requests: no join for it.
    current = PolicyYear.current()
    if current is not None and current.pk == application.policy_year_id:
        application.policy_year = current
    return application


@student_required
def submitted(request: HttpRequest, approval_number: str) -> HttpResponse:
    # The page names the application and its year, not the record: no join for it.
    application = _own_application(
        request, approval_number, fields=("approval_number", "policy_year")
    )
    return render(request, "confirmations/submitted.html", {"application": application, "step": 4})


@student_required
def applications(request: HttpRequest) -> HttpResponse:
    items = selectors.applications_through(request.student_record_ids).select_related(
        "record__school", "policy_year"
    )
    return render(
        request,
        "confirmations/applications.html",
        {"applications": items, "any_pending": any(a.is_pending for a in items)},
    )


@student_required
def result(request: HttpRequest, approval_number: str) -> HttpResponse:
    """建账结果: created, waiting (the waiting-period notice), or failed with what to do next."""
    application = _own_application(request, approval_number)
    state = selectors.student_state(application.id_number, application.policy_year)
    failed = application.state == Application.State.FAILED
    id_type = application.record.id_type
    return render(
        request,
        "confirmations/result.html",
        {
            "application": application,
            "city": application.policy_year.city,
            "masked_name": mask_name(application.name),
            "masked_id": mask_id_number(application.id_number),
            "period": selectors.benefit_period_of(application),
            "guide": failures.failure_guide(application.failure_kind) if failed else None,
            "can_reapply": failed
            and state.can_reapply
            and state.latest_failed == application
            and application.policy_year.is_open(),
            "e_voucher": id_type in rules.E_VOUCHER_ID_TYPES,
            "id_type_label": rules.ID_TYPES.get(id_type, ""),
            "residence_permit_hint": _residence_permit_hint(id_type),
        },
    )


def _audit_pledge_view(request: HttpRequest, application: Application, what: str) -> None:
    audit_record(
        action=Action.PLEDGE_VIEW,
        request=request,
        record=application.record,
        target=f"application:{application.approval_number}",
        detail={"view": what},
    )


@student_required
def signed_pledge(request: HttpRequest, approval_number: str) -> HttpResponse:
    application = _own_application(request, approval_number)
    if not hasattr(application, "pledge"):
        raise Http404
    _audit_pledge_view(request, application, "text")
    return render(
        request,
        "confirmations/signed_pledge.html",
        {
            "application": application,
            "pledge": application.pledge,
            "masked_name": mask_name(application.name),
            "masked_id": mask_id_number(application.id_number),
        },
    )


@student_required
def signature_image(request: HttpRequest, approval_number: str) -> HttpResponse:
    application = _own_application(request, approval_number)
    if not hasattr(application, "pledge"):
        raise Http404
    _audit_pledge_view(request, application, "signature")
    response = HttpResponse(bytes(application.pledge.signature_png), content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    return response


def _own_application_for_year(request: HttpRequest, policy_year: PolicyYear) -> Application | None:
    """The application of this year made through the session's own records (never another's)."""
    student = identified_student(request)
    if student is None:
        return None
    applications = list(
        selectors.applications_through(student["record_ids"]).filter(policy_year=policy_year)
    )
    live = next((a for a in applications if a.state != Application.State.FAILED), None)
    return live or next(iter(applications), None)


@never_cache  # the student's own dates on a phone that others may pick up
@require_GET
@benefits_year
def benefits(request: HttpRequest, policy_year: PolicyYear) -> HttpResponse:
    """My benefits: the student's own period (when identified) and the year's table explained."""
    application = _own_application_for_year(request, policy_year)
    return render(
        request,
        "confirmations/benefits.html",
        {
            **_benefit_table_context(policy_year),
            "identified": identified_student(request) is not None,
            "application": application,
            "period": selectors.benefit_period_of(application),
        },
    )


@never_cache  # the answer describes the student's health costs: not for the browser's cache
@require_http_methods(["GET", "POST"])
@benefits_year
def estimate(request: HttpRequest, policy_year: PolicyYear) -> HttpResponse:
    """The estimator: a POST that renders the answer and stores nothing.

    POST, not GET, so that the amounts never enter a URL (server and proxy logs, history,
    Referer); the view writes nothing and logs nothing, and the page works without JS.
    """
    context = _benefit_table_context(policy_year)
    period = selectors.benefit_period_of(_own_application_for_year(request, policy_year))
    form = EstimateForm(
        request.POST if request.method == "POST" else None,
        table=context["table"],
        with_date=period is not None,
        serious_illness_scope=policy_year.serious_illness_scope,
        initial={"deductible_paid": 0, "visit_date": timezone.localdate()},
    )
    result = None
    if request.method == "POST" and form.is_valid():
        result = estimator.estimate(table=context["table"], visit=form.visit(), period=period)
    return render(
        request,
        "confirmations/estimate.html",
        {**context, "form": form, "result": result, "period": period},
    )


@require_GET
@benefits_year
def questions(request: HttpRequest, policy_year: PolicyYear) -> HttpResponse:
    query = request.GET.get("q", "")[: selectors.MAX_QUERY_CHARS]
    return render(
        request,
        "confirmations/questions.html",
        {
            "policy_year": policy_year,
            "query": query,
            "questions": selectors.questions_matching(policy_year, query),
        },
    )
