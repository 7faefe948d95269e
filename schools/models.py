"""The registry of districts, schools and campuses, and the people who file for them."""

from __future__ import annotations

import re

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

MAIN_CAMPUS_SEQUENCE = "00"
# The ID types whose number format a city may prescribe (domain.md §3: 3 and 6 are travel
# permits; the Hangzhou source writes them HKG0…, MAC0…, TWN0…, Shanghai prescribes nothing).
PRESCRIBABLE_ID_TYPES = {
    "3": "港澳居民来往内地通行证",
    "4": "台胞证",
    "6": "台湾居民来往大陆通行证",
}
_PREFIX = re.compile(r"^[A-Z0-9]{1,8}$")

# The city a new installation serves (seed 01, 03): its texts and rules, also written by the
# data migration schools/0002. A second city is a second row (tests/test_city.py: Hangzhou).
SHANGHAI = {
    "code": "310000",
    "name": "上海市",
    "app_name": "随申办",
    "hotline": "021-12393",
    "benefit_start": "registration",
    "permit_prefixes": {},
}


class City(models.Model):
    """The city whose resident insurance the portal files for: its texts and its own rules.

    Each policy year names its city; pages, messages and rules read these fields instead of
    carrying a city's name, app, hotline or formats in code.
    """

    class BenefitStart(models.TextChoices):
        # confirmations.benefits.START_FROM_*
        REGISTRATION = (
            "registration",
            "自报到注册之日起（早于 9 月 1 日报到注册的，自 9 月 1 日起）",
        )
        SEPTEMBER = "september", "一律自 9 月 1 日起"

    code = models.CharField(
        "行政区划代码",
        max_length=6,
        unique=True,
        validators=[RegexValidator(r"^\d{6}$", "行政区划代码为 6 位数字")],
    )
    name = models.CharField("城市名称", max_length=20, help_text="如：上海市")
    app_name = models.CharField(
        "办事 App", max_length=30, help_text="学生办理参保确认、院校查询结果所用的 App，如：随申办"
    )
    hotline = models.CharField("医保服务热线", max_length=40, help_text="如：021-12393")
    benefit_start = models.CharField(
        "无待遇等待期新生的待遇开始日",
        max_length=20,
        choices=BenefitStart,
        default=BenefitStart.REGISTRATION,
    )
    permit_prefixes = models.JSONField(
        "通行证号码前缀",
        default=dict,
        blank=True,
        help_text="本市要求的通行证号码写法，按证件类型列出允许的前缀，"
        '如 {"3": ["HKG0", "MAC0"], "6": ["TWN0"]}；不要求的留空 {}',
    )

    class Meta:
        verbose_name = verbose_name_plural = "城市"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        problems = permit_prefix_problems(self.permit_prefixes)
        if problems:
            raise ValidationError({"permit_prefixes": problems})

    @classmethod
    def default(cls) -> City:
        """The installation's city when nothing else is said (Shanghai, seeded by migration)."""
        city = cls.objects.filter(code=SHANGHAI["code"]).first()
        return city or cls.objects.create(**SHANGHAI)

    @classmethod
    def for_year(cls, enrollment_year: int) -> City:
        """The city whose policy year this is (read through the policy year's relation, so the
        registry does not import the confirmations app); the default city when none is set."""
        city = cls.objects.filter(policy_years__enrollment_year=enrollment_year).first()
        return city or cls.default()

    def prefixes_for(self, id_type: str) -> tuple[str, ...]:
        return tuple(self.permit_prefixes.get(id_type) or ())


def permit_prefix_problems(value: object) -> list[str]:
    """Why a permit_prefixes value cannot be used (empty when it can)."""
    if not isinstance(value, dict):
        return ["请填写 {证件类型: [前缀, …]} 形式的 JSON 对象"]
    problems = []
    for id_type, prefixes in value.items():
        if id_type not in PRESCRIBABLE_ID_TYPES:
            allowed = "、".join(f"{code} {label}" for code, label in PRESCRIBABLE_ID_TYPES.items())
            problems.append(f"证件类型 {id_type} 不能规定前缀（可规定：{allowed}）")
        elif not isinstance(prefixes, list) or not all(
            isinstance(prefix, str) and _PREFIX.match(prefix) for prefix in prefixes
        ):
            problems.append(f"证件类型 {id_type} 的前缀应为 1–8 位大写字母或数字的列表")
    return problems


class District(models.Model):
    name = models.CharField("区", max_length=30, unique=True)

    class Meta:
        verbose_name = verbose_name_plural = "区"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class School(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "正常"
        DEREGISTERED = "deregistered", "已注销"
        MERGED = "merged", "已合并"

    code = models.CharField(
        "学校编码",
        max_length=4,
        unique=True,
        validators=[RegexValidator(r"^\d{4}$", "学校编码为 4 位数字")],
    )
    name = models.CharField("学校名称", max_length=100)
    status = models.CharField("状态", max_length=20, choices=Status, default=Status.ACTIVE)

    class Meta:
        verbose_name = verbose_name_plural = "院校"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["active", "deregistered", "merged"]),
                name="school_status_known",
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Campus(models.Model):
    """A main campus (总校, sequence 00) or a branch campus (分校, 01, 02, …)."""

    code = models.CharField(
        "总分校编码",
        max_length=6,
        unique=True,
        validators=[RegexValidator(r"^\d{6}$", "总分校编码为 6 位数字")],
    )
    school = models.ForeignKey(
        School, verbose_name="院校", on_delete=models.PROTECT, related_name="campuses"
    )
    name = models.CharField("校区名称", max_length=100)
    district = models.ForeignKey(
        District, verbose_name="所在区", on_delete=models.PROTECT, related_name="campuses"
    )

    class Meta:
        verbose_name = verbose_name_plural = "校区"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_main(self) -> bool:
        return self.code.endswith(MAIN_CAMPUS_SEQUENCE)

    @property
    def display_name(self) -> str:
        """The name, marked （总校） for the main campus unless the name already says so."""
        if self.is_main and "总校" not in self.name:
            return f"{self.name}（总校）"
        return self.name

    def clean(self) -> None:
        if self.school_id and not self.code.startswith(self.school.code):
            raise ValidationError({"code": "总分校编码的前 4 位必须是学校编码"})


class User(AbstractUser):
    class Role(models.TextChoices):
        SCHOOL_FILER = "school_filer", "院校指定人员"
        DISTRICT_HANDLER = "district_handler", "区经办人员"
        CITY_ADMIN = "city_admin", "市医保中心"

    role = models.CharField("角色", max_length=20, choices=Role, default=Role.SCHOOL_FILER)
    district = models.ForeignKey(
        District,
        verbose_name="所属区（区经办人员）",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="handlers",
    )

    class Meta:
        verbose_name = verbose_name_plural = "用户"
        constraints = [
            models.CheckConstraint(
                condition=~Q(role="district_handler") | Q(district__isnull=False),
                name="handler_has_district",
            )
        ]

    @property
    def is_city_admin(self) -> bool:
        return self.is_superuser or self.role == self.Role.CITY_ADMIN

    @property
    def is_district_handler(self) -> bool:
        return self.role == self.Role.DISTRICT_HANDLER and self.district_id is not None


class FilerDesignation(models.Model):
    """A school's designation of a person as filer (指定人员) for one of its campuses."""

    user = models.ForeignKey(
        User, verbose_name="用户", on_delete=models.CASCADE, related_name="designations"
    )
    campus = models.ForeignKey(
        Campus, verbose_name="校区", on_delete=models.CASCADE, related_name="designations"
    )
    created_at = models.DateTimeField("指定时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "指定人员"
        constraints = [
            models.UniqueConstraint(fields=["user", "campus"], name="one_designation_per_campus")
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.campus}"
