"""Freshmen records filed by schools, and the roster files on their way to becoming records."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from enrollment import rules
from schools.models import Campus, School


def _choices(codes: dict[str, str]) -> list[tuple[str, str]]:
    return [(code, f"{code} {label}") for code, label in codes.items()]


class StudentRecord(models.Model):
    """One freshman on a school's roster for one enrollment year (the 18 template fields)."""

    class Activation(models.TextChoices):
        """The desk's status of a record (是否激活), kept by `confirmations.status`."""

        ACTIVATED = "activated", "已激活（建账成功）"
        WAITING = "waiting", "待遇等待期（期满次日建账）"
        PENDING = "pending", "待建账"
        FAILED = "failed", "建账失败"
        ELSEWHERE = "elsewhere", "已通过其他院校办理"
        UNCONFIRMED = "unconfirmed", "未确认"

    school = models.ForeignKey(
        School, verbose_name="院校", on_delete=models.PROTECT, related_name="records"
    )
    campus = models.ForeignKey(
        Campus, verbose_name="校区", on_delete=models.PROTECT, related_name="records"
    )
    enrollment_year = models.PositiveSmallIntegerField("入学年度", db_index=True)

    name = models.CharField("姓名", max_length=30)
    id_type = models.CharField("证件类型", max_length=1, choices=_choices(rules.ID_TYPES))
    id_number = models.CharField("证件号码", max_length=30)
    origin = models.CharField("原户籍地", max_length=50)
    birth_date = models.DateField("出生日期")
    ethnicity = models.CharField("民族", max_length=20)
    sex = models.CharField("性别", max_length=1, choices=_choices(rules.SEXES))
    college = models.CharField("学院", max_length=50)
    major = models.CharField("专业", max_length=50)
    student_number = models.CharField("学号", max_length=20)
    education = models.CharField("学历", max_length=1, choices=_choices(rules.EDUCATIONS))
    campus_code = models.CharField("总分校编码", max_length=6)
    registration_date = models.DateField("报到注册日期")
    status = models.CharField("状态", max_length=2, choices=_choices(rules.STATUSES))
    address = models.CharField("联系地址", max_length=100, blank=True)
    postcode = models.CharField("联系邮编", max_length=6, blank=True)
    phone = models.CharField("联系电话", max_length=20)
    willingness = models.CharField("参保意愿", max_length=1, choices=_choices(rules.WILLINGNESS))
    # Derived from the person's applications and accounts, stored so that the activation list's
    # filters and counts read an index: every write that can change it calls
    # `confirmations.status.statuses_refresh` in its own transaction (COPY omits the column).
    activation_status = models.CharField(
        "是否激活",
        max_length=12,
        choices=Activation,
        default=Activation.UNCONFIRMED,
        db_default=Activation.UNCONFIRMED,
        editable=False,
    )

    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="创建人",
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    # Every change is a new version (a save here, an update by a roster commit): a form opened
    # at one version is not saved over another (enrollment.services.record_save).
    version = models.PositiveIntegerField("版本", default=1, db_default=1)  # COPY omits it
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="最后修改人",
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )

    class Meta:
        verbose_name = verbose_name_plural = "新生记录"
        ordering = ["school", "campus_code", "student_number"]
        constraints = [
            # Several filers may upload for one school: a person is on its roster once a year.
            models.UniqueConstraint(
                fields=["school", "enrollment_year", "id_number"],
                name="one_record_per_person_school_year",
            ),
            models.UniqueConstraint(
                fields=["school", "enrollment_year", "student_number"],
                name="student_number_unique_in_school_year",
            ),
        ]
        indexes = [
            models.Index(fields=["id_number"]),
            models.Index(fields=["school", "enrollment_year", "name"]),
            # A page of a list: a user's campuses for one year, in list order, read from the
            # index alone (keys first, `selectors.keyed_page`); the counts too.
            models.Index(
                fields=["campus", "enrollment_year", "campus_code", "student_number"],
                name="record_campus_year",
            ),
            # The activation list filtered by status (是否激活): the same, within one status, for
            # a scope of a few campuses (a school's filer): a page of keys and the count read
            # this index alone, campus by campus.
            models.Index(
                fields=[
                    "campus",
                    "enrollment_year",
                    "activation_status",
                    "campus_code",
                    "student_number",
                ],
                name="record_campus_year_status",
            ),
            # ... and for a scope of most campuses (a district, the city), where PostgreSQL
            # does not loop over the campuses but sorts the whole scope: the list order within
            # the year, with whatever a page's keys and count need after it (campus for the
            # scope, status for the filter, id for the keys), read from the index alone and
            # stopped after the page. Without it, a district's page sorted 200,000 rows on
            # disk, fast only while the table happened to lie in list order.
            models.Index(
                fields=[
                    "enrollment_year",
                    "campus_code",
                    "student_number",
                    "campus",
                    "activation_status",
                    "id",
                ],
                name="record_year_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.student_number}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            self.version += 1
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "version"}
        super().save(*args, **kwargs)

    def template_values(self) -> dict[str, object]:
        """The record's 18 fields in the form `rules.validate_row` returns them."""
        return {spec.attribute: getattr(self, spec.attribute) for spec in rules.FIELDS}


# Fields no list, status poll or admin list should load: the file and the bulky results.
HEAVY_UPLOAD_FIELDS = ("content", "errors", "changes", "error_workbook")


class RosterUpload(models.Model):
    """An uploaded roster file, its check result and, once committed, what it changed.

    The file is kept in the database so that the preview, the worker that checks the file and
    the commit can run in different processes or on different hosts.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "排队等待检查"
        CHECKING = "checking", "正在检查"
        CHECKED = "checked", "检查完成，待提交"
        REFUSED = "refused", "文件无法读取"
        COMMITTING = "committing", "正在提交"
        COMMITTED = "committed", "已提交"
        FAILED = "failed", "检查出错"

    id = models.UUIDField("编号", primary_key=True, default=uuid.uuid4, editable=False)
    school = models.ForeignKey(
        School, verbose_name="院校", on_delete=models.PROTECT, related_name="uploads"
    )
    enrollment_year = models.PositiveSmallIntegerField("入学年度")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="上传人",
        on_delete=models.PROTECT,
        related_name="roster_uploads",
    )
    file_name = models.CharField("文件名", max_length=255)
    content = models.BinaryField("文件内容")
    state = models.CharField("状态", max_length=20, choices=State, default=State.QUEUED)

    rows_total = models.PositiveIntegerField("总行数", default=0)
    rows_checked = models.PositiveIntegerField("已检查行数", default=0)
    rows_valid = models.PositiveIntegerField("有效行数", default=0)
    rows_with_errors = models.PositiveIntegerField("有错误的行数", default=0)
    to_insert = models.PositiveIntegerField("将新增", default=0)
    to_update = models.PositiveIntegerField("将更新", default=0)
    unchanged = models.PositiveIntegerField("无变化", default=0)
    refusal = models.JSONField("拒收或出错原因", default=dict, blank=True)
    # The first errors and changes only (importer.REPORTED_*), with the totals: every error is
    # in the error workbook, built once by the worker.
    errors = models.JSONField("错误（前若干条）", default=list, blank=True)
    errors_total = models.PositiveIntegerField("错误总数", default=0)
    changes = models.JSONField("变更预览（前若干条）", default=list, blank=True)
    changes_total = models.PositiveIntegerField("变更总数", default=0)
    error_workbook = models.BinaryField("错误标注文件", null=True, blank=True)
    result = models.JSONField("提交结果", default=dict, blank=True)
    # Claims of the check task: a file whose check keeps dying is failed after a few tries.
    check_attempts = models.PositiveSmallIntegerField("检查尝试次数", default=0)

    created_at = models.DateTimeField("上传时间", auto_now_add=True)
    last_queued_at = models.DateTimeField("最近排队时间", default=timezone.now)
    checked_at = models.DateTimeField("检查完成时间", null=True, blank=True)
    committed_at = models.DateTimeField("提交时间", null=True, blank=True)
    # Retention: the file's bytes are emptied after its policy year (counts and errors stay).
    purged_at = models.DateTimeField("文件删除时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "名单上传"
        ordering = ["-created_at"]
        indexes = [
            # /readyz, every few seconds: the oldest file still waiting for its check.
            models.Index(
                fields=["created_at"], condition=Q(state="queued"), name="upload_queued_since"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.school.code} {self.file_name}"

    @property
    def is_in_progress(self) -> bool:
        return self.state in {self.State.QUEUED, self.State.CHECKING, self.State.COMMITTING}

    @property
    def can_commit(self) -> bool:
        return self.state == self.State.CHECKED and self.rows_valid > 0


class ImportDraft(models.Model):
    """A file uploaded to the admin's import (django-import-export), kept between its preview
    and its confirmation: in the database, not a temporary folder, so that it expires
    (`IMPORT_DRAFT_HOURS`) and `purge_upload_files` removes it whether or not it was confirmed."""

    name = models.CharField(max_length=64, unique=True)
    content = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "后台导入草稿"
        verbose_name_plural = "后台导入草稿"

    def __str__(self) -> str:
        return self.name
