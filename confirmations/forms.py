import unicodedata
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from confirmations import estimator
from confirmations.templatetags.benefit_format import yuan

MAX_AMOUNT = Decimal(10_000_000)  # one visit or stay; a bound, not a rule


class TextInput(forms.TextInput):
    """Django's text input with the markup of its templates, written here in Python.

    The student's first pages render one or two of these per request; through the form
    renderer's three templates they cost more than the rest of the page (issue 14).
    """

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        html = (
            f'<input type="{conditional_escape(widget["type"])}" name="{conditional_escape(name)}"'
        )
        if widget["value"] is not None:
            html += f' value="{conditional_escape(widget["value"])}"'
        # As django/forms/widgets/attrs.html: True is a bare attribute, False none.
        for key, item in widget["attrs"].items():
            if item is True:
                html += f" {conditional_escape(key)}"
            elif item is not False:
                html += f' {conditional_escape(key)}="{conditional_escape(item)}"'
        return mark_safe(html + ">")


class IdentifyForm(forms.Form):
    name = forms.CharField(
        label="姓名",
        max_length=30,
        error_messages={"required": "请输入姓名"},
        widget=TextInput(attrs={"autocomplete": "name"}),
    )
    id_number = forms.CharField(
        label="证件号码",
        max_length=30,
        error_messages={"required": "请输入证件号码"},
        widget=TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )


class CodeForm(forms.Form):
    code = forms.RegexField(
        label="短信验证码",
        regex=r"^\s*\d{6}\s*$",
        error_messages={"required": "请输入验证码", "invalid": "验证码为 6 位数字"},
        widget=TextInput(
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


class MoneyField(forms.DecimalField):
    """An amount in 元 as people type it on a phone: 1,000 / 1000元 / full-width digits."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_digits", 10)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("min_value", Decimal(0))
        kwargs.setdefault("max_value", MAX_AMOUNT)
        kwargs.setdefault("localize", False)
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        )
        super().__init__(**kwargs)
        self.error_messages.update(
            {
                "invalid": "请填写金额（元），如 220 或 1000.50",
                "min_value": "金额不能为负数",
                "max_value": f"金额不能超过 {MAX_AMOUNT:,} 元",
                "max_digits": f"金额不能超过 {MAX_AMOUNT:,} 元",
                "max_decimal_places": "金额最多保留两位小数（到分）",
            }
        )

    def to_python(self, value):
        if isinstance(value, str):
            value = unicodedata.normalize("NFKC", value)
            value = value.replace(",", "").replace("元", "").replace(" ", "").strip()
        value = super().to_python(value)
        if value is None or not value.is_finite():
            return value  # NaN and infinities: the field's validation says 请填写金额
        # Decimal reads 1e999999999 exactly, but arithmetic on it overflows: an exponent far past
        # any amount is refused here, before anything computes with it.
        if value.is_zero():
            return Decimal(0)  # -0, 0e999999999 → 0
        if value.adjusted() > MAX_AMOUNT.adjusted():
            raise ValidationError(self.error_messages["max_value"], code="max_value")
        if value.as_tuple().exponent < -self.decimal_places:
            raise ValidationError(
                self.error_messages["max_decimal_places"], code="max_decimal_places"
            )
        return value


class EstimateForm(forms.Form):
    """One visit, as the student describes it; validated against the year's table."""

    visit_kind = forms.ChoiceField(
        label="就诊类型",
        widget=forms.RadioSelect,
        error_messages={"required": "请选择就诊类型"},
    )
    hospital_level = forms.ChoiceField(
        label="医院级别",
        required=False,
        widget=forms.RadioSelect,
        # Short labels fit three in a row at 360 px; the legend says 医院级别.
        choices=[
            (level.value, level.label.removesuffix("医院"))
            for level in estimator.HospitalLevel
            if level != estimator.HospitalLevel.ANY
        ],
    )
    covered_costs = MoneyField(
        label="本次符合医保规定的医疗费用（元）",
        help_text="不含医保不报销的自费项目",
        error_messages={"required": "请填写本次的医疗费用"},
    )
    deductible_paid = MoneyField(label="已计入起付线的金额（元）", required=False)
    serious_illness = forms.BooleanField(
        label="属于大病保险范围的治疗",
        required=False,
    )
    low_income = forms.BooleanField(
        label="本市低保、低收入家庭成员", required=False, help_text="影响大病保险再报销比例"
    )
    visit_date = forms.DateField(
        label="就诊日期",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"],
        help_text="用于判断是否在您的待遇享受期内；不填按今天计算",
        error_messages={"invalid": "请填写就诊日期，如 2026-10-08"},
    )

    def __init__(
        self,
        *args,
        table: estimator.BenefitTable,
        with_date: bool,
        serious_illness_scope: str = "",
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.table = table
        self.fields["serious_illness"].help_text = serious_illness_scope
        self.fields["visit_kind"].choices = [
            (kind, estimator.VisitKind(kind).label) for kind in table.visit_kinds()
        ]
        if not with_date:
            del self.fields["visit_date"]
        yearly = next(
            (
                r.deductible
                for r in table.rules
                if r.deductible_scope == estimator.DeductibleScope.PER_YEAR and r.deductible
            ),
            None,
        )
        self.fields["deductible_paid"].help_text = (
            f"门急诊：今年已累计计入起付线（{yuan(yearly)} 元/年）的金额。" if yearly else ""
        ) + "住院：本次住院已计入起付标准的金额，一般填 0。不清楚可填 0，按自付最多的情况计算。"

    def clean(self) -> dict:
        data = super().clean()
        kind, level = data.get("visit_kind"), data.get("hospital_level") or None
        if kind and self.table.needs_level(kind):
            if level is None:
                self.add_error("hospital_level", "请选择医院级别（校外门急诊和住院按医院级别支付）")
            elif self.table.rule_for(kind, level) is None:
                self.add_error("hospital_level", "本年度待遇表没有这一级别医院的规定")
        return data

    def visit(self) -> estimator.Visit:
        data = self.cleaned_data
        return estimator.Visit(
            visit_kind=data["visit_kind"],
            hospital_level=data.get("hospital_level") or None,
            covered_costs=data["covered_costs"],
            deductible_paid=data.get("deductible_paid") or Decimal(0),
            serious_illness=data["serious_illness"],
            low_income=data["low_income"],
            on=data.get("visit_date") or self._today_if_dated(),
        )

    def _today_if_dated(self):
        # An empty date means today, when the student's own dates are known.
        return timezone.localdate() if "visit_date" in self.fields else None
