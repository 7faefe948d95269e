"""The audit trail: who did what to which record, when and from where. Append-only."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AppendOnly(Exception):
    """An audit entry cannot be changed or deleted, by anyone."""


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnly("audit entries cannot be changed")

    def delete(self):
        raise AppendOnly("audit entries cannot be deleted")

    # bulk_update goes through update(); _raw_delete is what Collector uses for fast deletes.
    def _raw_delete(self, using):
        raise AppendOnly("audit entries cannot be deleted")


class AuditEntry(models.Model):
    """One action on personal data or on who may see it.

    Identity numbers and phones never appear here in full: the person is a keyed hash of the
    ID number (`person_hash`, for search), changed values are masked. Records are referred to
    by id, not by foreign key, so that deleting a record keeps the entries about it.
    """

    class Action(models.TextChoices):
        LOGIN = "login", "登录"
        LOGIN_FAILED = "login_failed", "登录失败"
        LOCKED_OUT = "locked_out", "账号锁定"
        UNLOCKED = "unlocked", "解除锁定"
        LOGOUT = "logout", "退出登录"
        TWO_FACTOR_ENABLED = "2fa_enabled", "启用二次验证"
        TWO_FACTOR_FAILED = "2fa_failed", "二次验证失败"
        STUDENT_SIGN_IN = "student_sign_in", "学生身份核验通过"
        STUDENT_SIGN_IN_FAILED = "student_sign_in_failed", "学生验证码错误"
        UPLOAD = "upload", "上传名单"
        UPLOAD_COMMIT = "upload_commit", "提交名单"
        UPLOAD_COMMITTED = "upload_committed", "名单已入库"
        RECORD_CREATE = "record_create", "新增记录"
        RECORD_EDIT = "record_edit", "修改记录"
        RECORD_DELETE = "record_delete", "删除记录"
        CONFIRM_SELF = "confirm_self", "本人参保确认"
        CONFIRM_ON_BEHALF = "confirm_on_behalf", "院校代确认"
        BATCH_CONFIRM = "batch_confirm", "批量代确认"
        APPLICATION_RETRY = "application_retry", "重试建账"
        PLEDGE_VIEW = "pledge_view", "查看已签承诺书"
        EXPORT = "export", "导出"
        ID_DISPLAY = "id_display", "显示完整证件号码"
        DESIGNATION_ADD = "designation_add", "新增指定人员"
        DESIGNATION_REMOVE = "designation_remove", "取消指定人员"
        ADMIN_CHANGE = "admin_change", "管理后台变更"
        FILES_PURGED = "files_purged", "按保存期限删除上传文件"

    class ActorKind(models.TextChoices):
        STAFF = "staff", "经办人员"
        STUDENT = "student", "学生"
        SYSTEM = "system", "系统"
        ANONYMOUS = "anonymous", "未登录"

    at = models.DateTimeField("时间", default=timezone.now, db_index=True)
    action = models.CharField("操作", max_length=30, choices=Action)
    actor_kind = models.CharField("操作者类型", max_length=10, choices=ActorKind)
    # PROTECT: a user with entries is deactivated, never deleted, so the trail keeps its names.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="操作人",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField("操作人（记录时）", max_length=150, blank=True)
    client_ip = models.GenericIPAddressField("客户端地址", null=True, blank=True)
    school = models.ForeignKey(
        "schools.School",
        verbose_name="院校",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    campus = models.ForeignKey(
        "schools.Campus",
        verbose_name="校区",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    record_id = models.BigIntegerField("新生记录 ID", null=True, blank=True)
    person_hash = models.CharField("人员（证件号码摘要）", max_length=64, blank=True)
    target = models.CharField("对象", max_length=120, blank=True)
    detail = models.JSONField("详情", default=dict, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "审计记录"
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["person_hash", "at"]),
            models.Index(fields=["actor", "at"]),
            models.Index(fields=["school", "at"]),
            # The staff login back-off counts recent failures per address.
            models.Index(fields=["action", "client_ip", "at"]),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.get_action_display()}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise AppendOnly("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object):
        raise AppendOnly("audit entries cannot be deleted")
