from django import forms


class IdentifyForm(forms.Form):
    name = forms.CharField(
        label="姓名",
        max_length=30,
        error_messages={"required": "请输入姓名"},
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    id_number = forms.CharField(
        label="证件号码",
        max_length=30,
        error_messages={"required": "请输入证件号码"},
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )


class CodeForm(forms.Form):
    code = forms.RegexField(
        label="短信验证码",
        regex=r"^\s*\d{6}\s*$",
        error_messages={"required": "请输入验证码", "invalid": "验证码为 6 位数字"},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "6"}
        ),
    )


class SignForm(forms.Form):
    agree = forms.BooleanField(
        label="我已阅读并同意以上承诺",
        error_messages={"required": "请先阅读承诺书并勾选同意"},
    )
    signature = forms.CharField(
        widget=forms.HiddenInput, error_messages={"required": "请在签名区域内手写签名"}
    )
