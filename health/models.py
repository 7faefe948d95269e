from django.db import models


class Heartbeat(models.Model):
    """When a worker last ran the heartbeat that beat sends through one queue."""

    queue = models.CharField("队列", max_length=200, primary_key=True)
    beat_at = models.DateTimeField("最近心跳")

    class Meta:
        verbose_name = verbose_name_plural = "队列心跳"

    def __str__(self) -> str:
        return f"{self.queue} {self.beat_at:%Y-%m-%d %H:%M:%S}"
