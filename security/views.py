"""Staff two-factor authentication (TOTP, django-otp): set up a device, verify at login."""

from __future__ import annotations

from base64 import b32encode

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import Action, audit_record
from security.forms import TokenForm

DEVICE_NAME = "验证器"


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return "/"


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Show a new secret as a QR code and text; confirm it with the first code it makes."""
    if user_has_device(request.user, confirmed=True):
        return redirect("security:two_factor_verify")
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=request.user, name=DEVICE_NAME, confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"].strip()):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            audit_record(action=Action.TWO_FACTOR_ENABLED, request=request)
            messages.success(request, "已启用二次验证，以后登录时需要输入验证器中的动态验证码")
            return redirect(_next(request))
        audit_record(action=Action.TWO_FACTOR_FAILED, request=request, detail={"step": "setup"})
        form.add_error("token", "验证码不正确，请核对手机时间后输入验证器当前显示的 6 位数字")
    secret = b32encode(device.bin_key).decode()
    return render(
        request,
        "security/two_factor_setup.html",
        {
            "form": form,
            "qr_svg": segno.make(device.config_url, error="m").svg_inline(scale=4),
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "next": _next(request),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    device = TOTPDevice.objects.filter(user=request.user, confirmed=True).first()
    if device is None:
        return redirect("security:two_factor_setup")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # verify_token is throttled by django-otp: each failure doubles the wait before the next.
        if device.verify_token(form.cleaned_data["token"].strip()):
            otp_login(request, device)
            return redirect(_next(request))
        audit_record(action=Action.TWO_FACTOR_FAILED, request=request, detail={"step": "login"})
        form.add_error("token", "验证码不正确或已过期，请输入验证器当前显示的 6 位数字")
    return render(
        request, "security/two_factor_verify.html", {"form": form, "next": _next(request)}
    )
