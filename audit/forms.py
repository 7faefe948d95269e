from django import forms

from audit.models import AuditEntry
from schools.models import School


class AuditSearchForm(forms.Form):
    id_number = forms.CharField(label="学生证件号码", required=False, max_length=30)
    username = forms.CharField(label="操作人（用户名）", required=False, max_length=150)
    school = forms.ModelChoiceField(
        label="院校", queryset=School.objects.none(), required=False, empty_label="全部院校"
    )
    action = forms.ChoiceField(
        label="操作", choices=[("", "全部操作"), *AuditEntry.Action.choices], required=False
    )
    date_from = forms.DateField(
        label="起始日期", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="截止日期", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: object, schools: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["school"].queryset = schools
