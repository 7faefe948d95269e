"""The registry of districts, schools and campuses, and the people who file for them."""

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

MAIN_CAMPUS_SEQUENCE = "00"


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
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="campuses")
    name = models.CharField("校区名称", max_length=100)
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="campuses")

    class Meta:
        verbose_name = verbose_name_plural = "校区"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_main(self) -> bool:
        return self.code.endswith(MAIN_CAMPUS_SEQUENCE)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

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

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="designations")
    campus = models.ForeignKey(Campus, on_delete=models.CASCADE, related_name="designations")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "指定人员"
        constraints = [
            models.UniqueConstraint(fields=["user", "campus"], name="one_designation_per_campus")
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.campus}"
