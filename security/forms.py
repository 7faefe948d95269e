from django import forms


class TokenForm(forms.Form):
    token = forms.RegexField(
        label="动态验证码",
        regex=r"^\s*\d{6}\s*$",
        error_messages={"required": "请输入验证器中的 6 位数字", "invalid": "验证码为 6 位数字"},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "6"}
        ),
    )
