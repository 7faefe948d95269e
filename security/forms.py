from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator

USERNAME_MAX_LENGTH = 150  # User.username's own limit


class _BoundedUsername:
    """Django's AuthenticationForm sets the username's max_length after its validators are
    built, so any length reaches authenticate() and django-axes, whose attempt log holds 255
    characters (PostgreSQL then refuses the row: a 500). Check the length first."""

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        MaxLengthValidator(USERNAME_MAX_LENGTH)(username)
        return username


class BoundedAuthenticationForm(_BoundedUsername, AuthenticationForm):
    pass


class BoundedAdminAuthenticationForm(_BoundedUsername, AdminAuthenticationForm):
    pass


class TokenForm(forms.Form):
    token = forms.RegexField(
        label="动态验证码",
        regex=r"^\s*\d{6}\s*$",
        error_messages={"required": "请输入验证器中的 6 位数字", "invalid": "验证码为 6 位数字"},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "6"}
        ),
    )
