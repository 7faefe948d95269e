"""An ID list uploaded for confirmation on students' behalf, on its way to becoming a batch.

No web request parses an uploaded spreadsheet: the file is kept here and a worker reads it
(through `enrollment.spreadsheets`), then creates the batch or records why it could not.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from confirmations.models import BatchConfirmation, PolicyYear
from schools.models import School


class IdListUpload(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "排队等待读取"
        READING = "reading", "正在读取名单"
        DONE = "done", "已生成代确认批次"
        REFUSED = "refused", "名单未被接收"
        FAILED = "failed", "读取出错"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="id_list_uploads"
    )
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="+")
    policy_year = models.ForeignKey(PolicyYear, on_delete=models.PROTECT, related_name="+")
    file_name = models.CharField("文件名", max_length=255)
    content = models.BinaryField("文件内容")  # emptied once the list has been read
    paper_pledges_attested = models.BooleanField("已收到纸质承诺书")
    state = models.CharField("状态", max_length=10, choices=State, default=State.QUEUED)
    message = models.TextField("拒收或出错原因", blank=True)
    batch = models.OneToOneField(
        BatchConfirmation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    read_attempts = models.PositiveSmallIntegerField("读取尝试次数", default=0)
    created_at = models.DateTimeField("上传时间", auto_now_add=True)
    last_queued_at = models.DateTimeField("最近排队时间", default=timezone.now)

    class Meta:
        verbose_name = verbose_name_plural = "代确认名单上传"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.school.code} {self.file_name}"

    @property
    def is_in_progress(self) -> bool:
        return self.state in {self.State.QUEUED, self.State.READING}
