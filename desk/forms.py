from django import forms

from desk.selectors import STATUS_CHOICES
from enrollment.spreadsheets import SpreadsheetRefused, check_file_size
from schools.models import Campus, School


class RecordFilterForm(forms.Form):
    school = forms.ModelChoiceField(
        label="院校", queryset=School.objects.none(), required=False, empty_label="全部院校"
    )
    campus = forms.ModelChoiceField(
        label="校区", queryset=Campus.objects.none(), required=False, empty_label="全部校区"
    )
    status = forms.ChoiceField(
        label="是否激活", choices=[("", "全部"), *STATUS_CHOICES], required=False
    )
    q = forms.CharField(label="姓名、证件号码或学号", required=False, max_length=50)
    full_id = forms.BooleanField(label="显示完整证件号码", required=False)

    def __init__(self, *args: object, schools: object, campuses: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["school"].queryset = schools
        self.fields["campus"].queryset = campuses
        self.fields["campus"].label_from_instance = lambda campus: f"{campus.code} {campus.name}"


class AttestForm(forms.Form):
    attested = forms.BooleanField(
        label="我已收到所选学生本人签字的《自愿参保承诺书》纸质件，并代其确认参保",
        error_messages={"required": "代确认前须确认已收到学生本人签字的纸质承诺书"},
    )


class IdListForm(forms.Form):
    school = forms.ModelChoiceField(
        label="院校",
        queryset=School.objects.none(),
        empty_label="请选择院校",
        error_messages={"required": "请先选择院校"},
    )
    file = forms.FileField(
        label="证件号码名单（.xlsx）", error_messages={"required": "请选择名单文件"}
    )
    attested = AttestForm.base_fields["attested"]

    def __init__(self, *args: object, schools: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["school"].queryset = schools

    def clean_file(self) -> object:
        upload = self.cleaned_data["file"]
        try:
            check_file_size(upload.size)
        except SpreadsheetRefused as refused:
            raise forms.ValidationError(refused.message) from refused
        return upload


class SchoolForm(forms.Form):
    school = forms.ModelChoiceField(
        label="院校",
        queryset=School.objects.none(),
        empty_label="请选择院校",
        error_messages={"required": "请先选择院校"},
    )

    def __init__(self, *args: object, schools: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["school"].queryset = schools


class SchoolCodeForm(forms.Form):
    """The reconciliation export's optional ?school=1012 and ?campus=101201 (links, not searches)."""

    school = forms.RegexField(regex=r"^\d{4}$", required=False)
    campus = forms.RegexField(regex=r"^\d{6}$", required=False)


class QueryForm(forms.Form):
    q = forms.CharField(label="姓名、证件号码或学号", required=False, max_length=50)
