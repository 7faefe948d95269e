"""The 18-field registration template and its rules (domain.md §3), as pure functions.

The browser upload, the CLI, the single-record form and the admin import all validate through
`validate_row`; nothing here touches the database or HTTP, so tests call it directly.

Every message names what is wrong and how to fix it, in the filer's language, and never
repeats an ID number or phone number.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from enrollment.masking import mask_id_number

# --- the template ---------------------------------------------------------------------------

ID_TYPES = {
    "1": "居民身份证",
    "2": "护照",
    "3": "港澳居民来往内地通行证",
    "4": "台胞证",
    "5": "侨胞证",
    "6": "台湾居民来往大陆通行证",
    "7": "港澳台居民居住证",
    "9": "其它",
}
SEXES = {"1": "男", "2": "女"}
EDUCATIONS = {"1": "本科", "2": "专科", "3": "高职", "4": "研究生"}
STATUSES = {
    "00": "正常在校",
    "01": "因病休学",
    "02": "其它休学",
    "03": "入伍",
    "10": "保留入学资格",
}
WILLINGNESS = {"1": "参加", "0": "不参加"}

ID_TYPE_RESIDENT_CARD = "1"
ID_TYPE_PASSPORT = "2"
ID_TYPE_HK_MACAO_PERMIT = "3"
ID_TYPE_TAIWAN_COMPATRIOT = "4"
ID_TYPE_TAIWAN_PERMIT = "6"
ID_TYPE_RESIDENCE_PERMIT = "7"
ID_TYPES_WITH_BIRTH_DATE = {ID_TYPE_RESIDENT_CARD, ID_TYPE_RESIDENCE_PERMIT}


@dataclass(frozen=True)
class FieldSpec:
    attribute: str
    header: str
    width: int
    required: bool = True
    codes: Mapping[str, str] | None = None
    note: str = ""


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("name", "姓名", 30, note="与证件上的姓名一致"),
    FieldSpec("id_type", "证件类型", 1, codes=ID_TYPES),
    FieldSpec(
        "id_number",
        "证件号码",
        30,
        note="身份证 18 位（末位可为 X）；护照为国家代码(3 位大写字母)+0+护照号，国籍不详填 ZZZ；"
        "括号用半角",
    ),
    FieldSpec("origin", "原户籍地", 50, note="大陆居民填本市或省+市；非大陆居民填国籍或地区"),
    FieldSpec("birth_date", "出生日期", 8, note="YYYYMMDD"),
    FieldSpec("ethnicity", "民族", 20),
    FieldSpec("sex", "性别", 1, codes=SEXES),
    FieldSpec("college", "学院", 50),
    FieldSpec("major", "专业", 50),
    FieldSpec("student_number", "学号", 20, note="同一院校内不能重复"),
    FieldSpec("education", "学历", 1, codes=EDUCATIONS),
    FieldSpec("campus_code", "总分校编码", 6, note="学校编码 4 位 + 校区序号 2 位，总校为 00"),
    FieldSpec(
        "registration_date", "报到注册日期", 8, note="YYYYMMDD，当年 8 月 1 日至 12 月 31 日"
    ),
    FieldSpec("status", "状态", 2, codes=STATUSES),
    # Seed 01 lines 144–148 lists both among the fields to upload (需上传字段): required.
    FieldSpec("address", "联系地址", 100, note="现居住地址"),
    FieldSpec("postcode", "联系邮编", 6, note="6 位数字"),
    FieldSpec("phone", "联系电话", 20, note="手机号或带区号的座机号；学生的验证码只能发送到手机号"),
    FieldSpec("willingness", "参保意愿", 1, codes=WILLINGNESS),
)
FIELD_BY_ATTRIBUTE = {spec.attribute: spec for spec in FIELDS}
FIELD_BY_HEADER = {spec.header: spec for spec in FIELDS}
HEADERS = tuple(spec.header for spec in FIELDS)
DATE_ATTRIBUTES = ("birth_date", "registration_date")

# Columns this portal adds to its own error workbook (a re-uploaded error workbook is accepted),
# and the row-number column real rosters start with (seed 01's own lists begin with 序号).
IGNORED_HEADERS = ("错误说明", "序号")

# What people type instead of a code, when it can mean only one code (seed 01 template notes).
# The code lists' own labels are accepted too; anything else is refused with the codes named.
CODE_ALIASES: dict[str, dict[str, str]] = {
    "id_type": {
        "身份证": "1",
        "二代身份证": "1",
        "港澳通行证": "3",
        "回乡证": "3",
        "台湾通行证": "6",
        "居住证": "7",
        "其他": "9",
    },
    "sex": {"男性": "1", "女性": "2"},
    "education": {
        "本科生": "1",
        "大专": "2",
        "高职生": "3",
        "硕士": "4",
        "博士": "4",
        "硕士研究生": "4",
        "博士研究生": "4",
    },
    "status": {"在校": "00", "正常": "00", "其他休学": "02"},
    "willingness": {"是": "1", "愿意": "1", "否": "0", "不愿意": "0"},
}


# --- normalisation of messy cells -----------------------------------------------------------

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff"), None)
_WHITESPACE = re.compile(r"\s+")
_INTEGRAL_FLOAT_TEXT = re.compile(r"^(\d+)\.0+$")
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?E\+?\d+$")
_DATE_TEXT = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:\s.*)?$")
_DIGIT_FIELDS = frozenset(
    {
        "id_type",
        "birth_date",
        "sex",
        "student_number",
        "education",
        "campus_code",
        "registration_date",
        "status",
        "postcode",
        "phone",
        "willingness",
    }
)
# A number cell holds digits exactly up to 15 significant digits (Excel's precision): a short
# document number typed into a number cell is exact; an 18-digit ID has lost its last digits.
EXACT_NUMBER_LIMIT = 10**15


def normalize_text(value: object) -> str:
    """A cell as text: half-width (NFKC), trimmed, dates as YYYYMMDD, `12345.0` as `12345`."""
    if isinstance(value, str):
        if value.isascii():  # the common case; NFKC and the invisible characters are not ASCII
            return value.strip()
        return unicodedata.normalize("NFKC", value).translate(_INVISIBLE).strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y%m%d")
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    return unicodedata.normalize("NFKC", str(value)).translate(_INVISIBLE).strip()


def normalize_id_number(value: object) -> str:
    """An ID number as stored: half-width, no whitespace anywhere, letters upper-case (x → X)."""
    return _WHITESPACE.sub("", normalize_text(value)).upper()


# The middle dots of minority and foreign names, as rosters and phones write them (domain.md §4):
# · U+00B7, • U+2022, ・ U+30FB (and its half-width U+FF65), ． U+FF0E (NFKC: "."), ‧ U+2027,
# ∙ U+2219, ⋅ U+22C5, · U+0387. A name may carry any of them, or none.
_NAME_DOTS = dict.fromkeys(map(ord, "\u00b7\u2022\u30fb\uff65.\u2027\u2219\u22c5\u0387"), None)


def name_key(value: object) -> str:
    """A name as compared, not as stored: case, full-width letters and digits, spaces and the
    middle dots make no difference ("阿依古丽·买买提" = "阿依古丽•买买提" = "阿依古丽买买提")."""
    text = unicodedata.normalize("NFKC", str(value or "")).casefold()
    return _WHITESPACE.sub("", text.translate(_INVISIBLE).translate(_NAME_DOTS))


def same_name(first: object, second: object) -> bool:
    return name_key(first) == name_key(second)


# A header as filers mark it: "*姓名", "姓名（必填）" and "姓 名" are the header 姓名.
_HEADER_MARKS = re.compile(r"^\*+|\*+$|[(（](?:必填|选填|可选)[)）]$")


def normalize_header(value: object) -> str:
    """Headers that differ only by spaces, full-width characters or required marks are one."""
    return _HEADER_MARKS.sub("", _WHITESPACE.sub("", normalize_text(value)))


def _code_labels(attribute: str) -> dict[str, str]:
    """Every label that means one code of the field: the list's own, then the aliases."""
    codes = FIELD_BY_ATTRIBUTE[attribute].codes or {}
    labels = {label: code for code, label in codes.items()}
    labels |= {f"{code}{label}": code for code, label in codes.items()}  # "4 研究生", "4-研究生"
    return labels | CODE_ALIASES.get(attribute, {})


_CODE_LABEL_SEPARATORS = re.compile(r"[\s\-:：、.()（）]+")


def code_for_label(attribute: str, text: str) -> str | None:
    """The code a typed label means ("研究生" → "4", "4 研究生" → "4"), or None."""
    return _CODE_LABELS[attribute].get(_CODE_LABEL_SEPARATORS.sub("", text))


def _normalize_code(text: str, attribute: str) -> str:
    if attribute == "status" and len(text) == 1 and text.isdigit():
        return "0" + text  # a spreadsheet turned 01 into 1; 10 never loses a digit
    if text in (FIELD_BY_ATTRIBUTE[attribute].codes or {}):
        return text
    return code_for_label(attribute, text) or text


def _normalize_date(text: str) -> str:
    if len(text) == 8 and text.isdigit():
        return text
    match = _DATE_TEXT.match(text)
    if match:
        year, month, day = match.groups()
        return f"{year}{int(month):02d}{int(day):02d}"
    return text


_PHONE_SEPARATORS = re.compile(r"[\s\-()—–]+")
_AREA_CODE = re.compile(r"^(010|02\d|0[3-9]\d\d)(\d{7,8})$")


def normalize_phone(text: str) -> str:
    """A phone as stored: a mobile as its 11 digits, a landline as 区号-号码.

    Spaces, dashes, brackets and a +86 / 0086 / 86 country code are what people type around the
    same number: "+86 139-1234-5678" and "(021) 6234 5678" are 13912345678 and 021-62345678.
    Other countries keep their code: +852-91234567.
    """
    if len(text) == 11 and _MOBILE.match(text):
        return text
    compact = _PHONE_SEPARATORS.sub("", text)
    for prefix in ("+86", "0086"):
        if compact.startswith(prefix):
            national = compact[len(prefix) :]
            # A mobile keeps its 11 digits; a landline gets back its trunk 0 (+86 21 … → 021…).
            compact = national if _MOBILE.match(national) else "0" + national.lstrip("0")
            break
    else:
        if compact.startswith("86") and _MOBILE.match(compact[2:]):
            compact = compact[2:]
        elif compact.startswith("+"):
            country, number = _split_country_code(text)
            return f"+{country}-{number}" if country else compact
    if match := _AREA_CODE.match(compact):
        return f"{match.group(1)}-{match.group(2)}"
    return compact


def _split_country_code(text: str) -> tuple[str, str]:
    """ "+852 9123 4567" → ("852", "91234567"): the code is what precedes the first separator."""
    match = re.match(r"^\+(\d{1,4})[\s\-()]+(.+)$", text.strip())
    if not match:
        return "", ""
    return match.group(1), _PHONE_SEPARATORS.sub("", match.group(2))


_ZERO_PADDED = frozenset({"postcode", "campus_code"})
# Field-specific normalisation, after the common one (normalize_text).
_NORMALIZERS: dict[str, Callable[[str], str]] = {
    "id_type": lambda text: _normalize_code(text, "id_type"),
    "id_number": lambda text: _WHITESPACE.sub("", text).upper(),
    "birth_date": _normalize_date,
    "sex": lambda text: _normalize_code(text, "sex"),
    "education": lambda text: _normalize_code(text, "education"),
    "registration_date": _normalize_date,
    "status": lambda text: _normalize_code(text, "status"),
    "postcode": lambda text: text if text.isdigit() else _WHITESPACE.sub("", text),
    "phone": normalize_phone,
    "willingness": lambda text: _normalize_code(text, "willingness"),
}


def normalize_cell(attribute: str, raw: object) -> str:
    """One cell of one field as the portal stores it (text)."""
    text = normalize_text(raw)
    if not text:
        return text
    if attribute in _DIGIT_FIELDS and "." in text:
        match = _INTEGRAL_FLOAT_TEXT.match(text)
        if match:
            text = match.group(1)
    if attribute in _ZERO_PADDED and isinstance(raw, int | float):
        text = text.zfill(6)  # numeric cells lose leading zeros
    if text in _ALREADY_CLEAN.get(attribute, ()):
        return text  # the common case: a code as the template asks for it
    normalizer = _NORMALIZERS.get(attribute)
    return normalizer(text) if normalizer else text


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    column: str
    message: str


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class RowOutcome:
    values: dict[str, object]
    errors: list[FieldError] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class RowContext:
    """What a row is checked against: the school being filed, what the filer may file, and the
    city's own formats (the travel-permit prefixes its insurance system requires, if any)."""

    school_code: str
    enrollment_year: int
    school_campuses: frozenset[str]
    fileable_campuses: frozenset[str]
    today: dt.date
    permit_prefixes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# --- single-value rules ----------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_ID18 = re.compile(r"^\d{17}[\dX]$")
# Country code (3 upper-case letters, ZZZ when unknown) + 0 + the passport number, whose
# brackets are half-width (seed 01, template notes).
_PASSPORT = re.compile(r"^[A-Z]{3}0[A-Z0-9()]{4,26}$")
_PERMIT = re.compile(r"^[A-Z0-9()]{5,30}$")
_OTHER_ID = re.compile(r"^[A-Z0-9()\-]{4,30}$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^(0\d{2,3}-)?[1-9]\d{6,7}$")
_INTERNATIONAL = re.compile(r"^\+\d{1,4}-?\d{5,14}$")
_POSTCODE = re.compile(r"^\d{6}$")
_CAMPUS_CODE = re.compile(r"^\d{6}$")
_YYYYMMDD = re.compile(r"^\d{8}$")

CHINA = "CHN"
UNKNOWN_NATIONALITY = "ZZZ"
# Seed 01 Q14 / seed 03 Q4: holders of these may be unable to claim the e-voucher (医保码) and
# are told to get a 医保卡 at a service office; 1 and 7 can claim it.
E_VOUCHER_ID_TYPES = frozenset({ID_TYPE_RESIDENT_CARD, ID_TYPE_RESIDENCE_PERMIT})
# Seed 03 Q4: Hong Kong, Macao and Taiwan students should file with the residence permit (7).
TRAVEL_PERMIT_ID_TYPES = frozenset(
    {ID_TYPE_HK_MACAO_PERMIT, ID_TYPE_TAIWAN_COMPATRIOT, ID_TYPE_TAIWAN_PERMIT}
)
RESIDENCE_PERMIT_HINT = (
    "港澳台同学建议使用港澳台居民居住证（18 位，证件类型 7）办理参保确认："
    "用居住证参保的一般均可申领医保电子凭证。已办理居住证的，请联系院校把证件类型改为 7、"
    "证件号码改为居住证号码"
)


def id_check_character(first_17_digits: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits of an 18-character ID."""
    total = sum(
        int(digit) * weight for digit, weight in zip(first_17_digits, _ID_WEIGHTS, strict=True)
    )
    return _ID_CHECK_CHARS[total % 11]


@functools.lru_cache(maxsize=8192)  # a roster repeats a few hundred dates thousands of times
def parse_yyyymmdd(text: str) -> dt.date | None:
    if not _YYYYMMDD.match(text):
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def registration_window(enrollment_year: int) -> tuple[dt.date, dt.date]:
    return dt.date(enrollment_year, 8, 1), dt.date(enrollment_year, 12, 31)


def _check_18_character_id(id_number: str, id_type_label: str) -> str | None:
    if len(id_number) != 18:
        return f"{id_type_label}号码应为 18 位，当前为 {len(id_number)} 位，请核对"
    if not _ID18.match(id_number):
        return f"{id_type_label}号码前 17 位只能是数字，最后一位是数字或 X，请核对"
    if id_check_character(id_number[:17]) != id_number[17]:
        return "证件号码校验位不正确（最后一位与前 17 位不符），请核对是否抄错"
    if parse_yyyymmdd(id_number[6:14]) is None:
        return "证件号码中的出生日期（第 7–14 位）不是有效日期，请核对"
    return None


def _check_permit(id_type: str, id_number: str, prefixes: tuple[str, ...]) -> str | None:
    label = ID_TYPES[id_type]
    if prefixes and not id_number.startswith(prefixes):
        shown = " 或 ".join(prefixes)
        return f"{label}号码在本市应写成 {shown} 加证件号码（例如 {prefixes[0]}12345678），请按此格式填写"
    if not _PERMIT.match(id_number):
        return f"{label}号码只能包含字母、数字和半角括号，长度 5–30 位，请核对"
    return None


def check_id_number(
    id_type: str, id_number: str, permit_prefixes: Mapping[str, tuple[str, ...]] | None = None
) -> str | None:
    """The message for an ID number that does not fit its type, or None when it fits.

    Travel permits (3, 4, 6) follow the city's format when it prescribes one (permit_prefixes:
    Hangzhou writes HKG0…, MAC0…, TWN0…); Shanghai's template prescribes none.
    """
    if _SCIENTIFIC.match(id_number):
        return "证件号码被写成了科学计数法，已丢失位数。请将该列设为“文本”格式后重新输入完整号码"
    if id_type == ID_TYPE_RESIDENT_CARD:
        return _check_18_character_id(id_number, "身份证")
    if id_type == ID_TYPE_RESIDENCE_PERMIT:
        if not id_number.startswith(("81", "82", "83")):
            return "港澳台居民居住证号码应以 81（香港）、82（澳门）或 83（台湾）开头，请核对"
        return _check_18_character_id(id_number, "居住证")
    if id_type == ID_TYPE_PASSPORT:
        if not _PASSPORT.match(id_number):
            return (
                "护照号码应为“国家代码（3 位大写字母，国籍不详填 ZZZ）+ 0 + 护照号”，"
                "例如 CHN0E12345678（括号用半角），请按此格式填写"
            )
        return None
    if id_type in TRAVEL_PERMIT_ID_TYPES:
        return _check_permit(id_type, id_number, tuple((permit_prefixes or {}).get(id_type, ())))
    if not _OTHER_ID.match(id_number):
        return "证件号码只能包含字母、数字、半角括号和连字符，长度 4–30 位，请核对"
    return None


def passport_country(id_type: str, id_number: str) -> str | None:
    """The country code a passport number starts with (None for other documents)."""
    if id_type != ID_TYPE_PASSPORT or not _PASSPORT.match(id_number):
        return None
    return id_number[:3]


def ineligibility(id_type: str, id_number: str) -> str | None:
    """Why a freshman is outside the new-student scheme, or None (seed 03 lines 85–89).

    Foreign students (外国留学生) are excluded. The portal can tell only one case for sure: a
    passport whose country code is neither CHN (a Chinese citizen) nor ZZZ (nationality unknown:
    the school must check, the portal cannot). Other documents (travel permits, 台胞证, 侨胞证)
    belong to Chinese citizens.
    """
    country = passport_country(id_type, id_number)
    if country is None or country in {CHINA, UNKNOWN_NATIONALITY}:
        return None
    return (
        f"护照国家代码为 {country}（不是 CHN），属于外国留学生。外国留学生不属于本市大学生"
        "居民医保新生参保范围，不能参保确认，请从名单中删除这一行；如学生实为中国公民，"
        "请改用其中国证件办理"
    )


def identify_id_problem(id_number: str) -> str | None:
    """For a student typing their own ID number (type unknown): what is plainly wrong with it.

    Only the shape is judged: the answer is the same whether or not anyone with that number is
    on a roster. 18 digits (last may be X) must carry a valid check character and birth date;
    a digits-only number of another length near 18 is a mistyped resident ID.
    """
    if not id_number:
        return "请输入证件号码"
    if len(id_number) == 18 and _ID18.match(id_number):
        return _check_18_character_id(id_number, "身份证")
    if id_number.isdigit() and 15 <= len(id_number) <= 20:
        return f"居民身份证号码应为 18 位，您输入了 {len(id_number)} 位，请核对"
    if not _OTHER_ID.match(id_number):
        return "证件号码只能包含字母、数字和半角括号，请核对后重新输入"
    return None


def is_mobile(phone: str) -> bool:
    """Whether a stored phone can receive a text message (a one-time code): a mainland mobile,
    or a number abroad in international form (students from Hong Kong, Macao, Taiwan)."""
    return bool(_MOBILE.match(phone) or _INTERNATIONAL.match(phone))


MOBILE_PATTERN = _MOBILE.pattern
NO_CODE_NOTE = "联系电话不是手机号，学生收不到验证码：请改为学生本人的手机号"


def record_notes(id_type: str, id_number: str, phone: str) -> list[str]:
    """What a school should know about a stored record before its student tries to confirm."""
    notes = []
    if not is_mobile(phone):
        notes.append(NO_CODE_NOTE)
    if problem := ineligibility(id_type, id_number):
        notes.append(problem.split("。", 1)[0] + "，不能参保确认")
    if id_type in TRAVEL_PERMIT_ID_TYPES:
        notes.append("建议改用港澳台居民居住证（证件类型 7）")
    return notes


def check_phone(phone: str) -> str | None:
    if is_mobile(phone) or _LANDLINE.match(phone):
        return None
    return "联系电话应为 11 位手机号或带区号的座机号（如 021-12345678），请核对"


def _check_postcode(postcode: str, context: RowContext) -> str | None:
    if not _POSTCODE.match(postcode):
        return "联系邮编应为 6 位数字，请核对"
    return None


def _check_birth_date(text: str, context: RowContext) -> str | None:
    birth_date = parse_yyyymmdd(text)
    if birth_date is None:
        return _DATE_FORMAT.format(header="出生日期")
    if birth_date > context.today or birth_date.year < 1900:
        return "出生日期不在合理范围内，请核对"
    return None


def _check_registration_date(text: str, context: RowContext) -> str | None:
    registration_date = parse_yyyymmdd(text)
    if registration_date is None:
        return _DATE_FORMAT.format(header="报到注册日期")
    first, last = registration_window(context.enrollment_year)
    if not first <= registration_date <= last:
        return (
            f"报到注册日期只能在 {context.enrollment_year} 年 8 月 1 日至 12 月 31 日之间"
            f"（{first:%Y%m%d}–{last:%Y%m%d}），请核对"
        )
    return None


_DATE_FORMAT = "{header}应为 8 位日期 YYYYMMDD（如 20250901），且须是真实日期"


def _check_campus(campus_code: str, context: RowContext) -> str | None:
    if not _CAMPUS_CODE.match(campus_code):
        return "总分校编码应为 6 位数字（学校编码 4 位 + 校区序号 2 位），请核对"
    if not campus_code.startswith(context.school_code):
        return (
            f"总分校编码 {campus_code} 不属于所选院校 {context.school_code}。"
            "一次只能上传一所院校的名单，请把这一行移到对应院校的文件中"
        )
    if campus_code not in context.school_campuses:
        known = "、".join(sorted(context.school_campuses)) or "无"
        return (
            f"院校 {context.school_code} 没有编码为 {campus_code} 的校区（已登记：{known}），请核对"
        )
    if campus_code not in context.fileable_campuses:
        return f"您不是校区 {campus_code} 的指定人员或备选经办人员，不能为该校区上传，请联系该校区的指定人员"
    return None


def _code_message(spec: FieldSpec, text: str) -> str:
    """A value that is not one of the field's codes: name the codes, and the one it resembles."""
    allowed = "、".join(f"{code} {label}" for code, label in spec.codes.items())
    if text.isascii():  # a wrong code, not a label
        return f"{spec.header}只能填代码：{allowed}"
    labels = {
        **{label: code for code, label in spec.codes.items()},
        **CODE_ALIASES.get(spec.attribute, {}),
    }
    close = sorted(
        {code for label, code in labels.items() if label in text or text in label},
        key=list(spec.codes).index,
    )
    if close:
        codes = "或".join(f"代码 {code}（{spec.codes[code]}）" for code in close)
        return f"{spec.header}请填写{codes}，不要填写“{text}”"
    return f"{spec.header}请填写代码（{allowed}），不要填写“{text}”"


# --- the row: a table of checks ---------------------------------------------------------------
#
# Each field is normalised (normalize_cell) and then checked on its own: required, its code list,
# its width, and its own format (FIELD_CHECKS). Rules that look at several fields follow
# (ROW_CHECKS), each skipped when a field it reads already has an error. A row has at most one
# error per column: the first found.

FIELD_CHECKS: dict[str, Callable[[str, RowContext], str | None]] = {
    "birth_date": _check_birth_date,
    "campus_code": _check_campus,
    "registration_date": _check_registration_date,
    "postcode": _check_postcode,
    "phone": lambda phone, context: check_phone(phone),
}


@dataclass(frozen=True)
class _Row:
    """What a cross-field check reads: the raw cells, the cleaned text, and the errors so far."""

    raw: Mapping[str, object]
    values: Mapping[str, str]
    errors: Mapping[str, str]
    context: RowContext

    def usable(self, *attributes: str) -> bool:
        for attribute in attributes:
            if not self.values[attribute] or attribute in self.errors:
                return False
        return True

    @property
    def id_with_birth_date(self) -> bool:
        return self.usable("id_type", "id_number") and (
            self.values["id_type"] in ID_TYPES_WITH_BIRTH_DATE
        )


def _numeric_id_cell(row: _Row) -> str | None:
    cell = row.raw.get("id_number")
    if isinstance(cell, bool) or not isinstance(cell, int | float):
        return None
    if isinstance(cell, float) and not cell.is_integer():
        return "证件号码是带小数的数字格式单元格，请将该列设为“文本”格式后重新输入"
    if abs(cell) < EXACT_NUMBER_LIMIT and row.values["id_type"] not in ID_TYPES_WITH_BIRTH_DATE:
        return None  # a short document number, held exactly
    return (
        "证件号码是数字格式的单元格，Excel 已把长号码截断，无法还原。"
        "请将该列设为“文本”格式后重新输入完整号码"
    )


def _id_fits_its_type(row: _Row) -> str | None:
    if not row.usable("id_type", "id_number"):
        return None
    id_type, id_number = row.values["id_type"], row.values["id_number"]
    return check_id_number(id_type, id_number, row.context.permit_prefixes)


def _eligible(row: _Row) -> str | None:
    if not row.usable("id_type", "id_number"):
        return None
    return ineligibility(row.values["id_type"], row.values["id_number"])


def _birth_date_matches_id(row: _Row) -> str | None:
    if not row.id_with_birth_date or not row.usable("birth_date"):
        return None
    if row.values["birth_date"] != row.values["id_number"][6:14]:
        return "出生日期与证件号码中的出生日期（第 7–14 位）不一致，请核对"
    return None


def _sex_matches_id(row: _Row) -> str | None:
    if not row.id_with_birth_date or not row.usable("sex"):
        return None
    sex_in_id = "1" if int(row.values["id_number"][16]) % 2 == 1 else "2"
    if row.values["sex"] != sex_in_id:
        return "性别与证件号码第 17 位不一致（奇数为男 1，偶数为女 2），请核对性别或证件号码"
    return None


ROW_CHECKS: tuple[tuple[str, Callable[[_Row], str | None]], ...] = (
    ("id_number", _numeric_id_cell),
    ("id_number", _id_fits_its_type),
    ("id_number", _eligible),
    ("birth_date", _birth_date_matches_id),
    ("sex", _sex_matches_id),
)


def required_message(header: str) -> str:
    return f"{header}不能为空，请填写"


def _field_error(spec: FieldSpec, text: str, context: RowContext) -> str | None:
    if not text:
        return required_message(spec.header) if spec.required else None
    if spec.codes is not None and text not in spec.codes:
        return _code_message(spec, text)
    if len(text) > spec.width:
        return f"{spec.header}最长 {spec.width} 个字符，当前 {len(text)} 个，请缩短"
    check = FIELD_CHECKS.get(spec.attribute)
    return check(text, context) if check else None


def validate_row(raw: Mapping[str, object], context: RowContext) -> RowOutcome:
    """Normalise and check one roster row, keyed by attribute name (see FIELDS).

    Returns the cleaned values (text, with the two dates as `datetime.date`) and every
    problem found, one per column at most.
    """
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for spec in FIELDS:
        text = values[spec.attribute] = normalize_cell(spec.attribute, raw.get(spec.attribute))
        if message := _field_error(spec, text, context):
            errors[spec.attribute] = message
    row = _Row(raw, values, errors, context)  # sees the errors as the checks add them
    for attribute, check in ROW_CHECKS:
        if attribute not in errors and (message := check(row)):
            errors[attribute] = message
    cleaned: dict[str, object] = dict(values)
    for attribute in DATE_ATTRIBUTES:
        cleaned[attribute] = None if attribute in errors else parse_yyyymmdd(values[attribute])
    ordered = [
        FieldError(spec.header, errors[spec.attribute])
        for spec in FIELDS
        if spec.attribute in errors
    ]
    return RowOutcome(values=cleaned, errors=ordered)


_CODE_LABELS = {spec.attribute: _code_labels(spec.attribute) for spec in FIELDS if spec.codes}
_ALREADY_CLEAN = {spec.attribute: frozenset(spec.codes) for spec in FIELDS if spec.codes}


# --- rules across rows -----------------------------------------------------------------------


def duplicate_errors(
    keys_by_row: Iterable[tuple[int, str]], *, column: str, what: str
) -> list[RowError]:
    """Every row whose key also appears on another row of the same file.

    All occurrences are errors: the portal cannot know which of two rows for one person is right.
    Each message names one other row and how many there are ("与第 12 行等 3 行重复"), so
    the messages grow with the number of rows, not with its square.
    """
    rows_by_key: dict[str, list[int]] = {}
    for row, key in keys_by_row:
        if key:
            rows_by_key.setdefault(key, []).append(row)
    errors = []
    for rows in rows_by_key.values():
        if len(rows) < 2:
            continue
        others = len(rows) - 1
        for row in rows:
            other = rows[1] if row == rows[0] else rows[0]
            where = f"第 {other} 行" if others == 1 else f"第 {other} 行等 {others} 行"
            errors.append(
                RowError(
                    row,
                    column,
                    f"{what}与{where}重复，同一文件中每人只能出现一次，请删除或改正重复的行",
                )
            )
    return errors


def describe_person(values: Mapping[str, object]) -> str:
    """A safe way to name a row's person in a message: name and masked ID number."""
    return f"{values.get('name', '')}（{mask_id_number(str(values.get('id_number', '')))}）"
