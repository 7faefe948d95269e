"""Reminders record their delivery (a lease, progress and when the last text went out).

Reminders stored before this migration were texted by the old task, which kept no record: they
are marked delivered, so nothing sent before is sent again.
"""

import django.utils.timezone
from django.db import migrations, models
from django.db.models import F


def mark_existing_delivered(apps, schema_editor) -> None:
    Reminder = apps.get_model("confirmations", "Reminder")
    Reminder.objects.filter(delivered_at__isnull=True).update(
        delivered_at=F("created_at"),
        last_queued_at=F("created_at"),
        processed=F("recipients"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("confirmations", "0014_backfill_record_activation_status"),
    ]

    operations = [
        migrations.AddField(
            model_name="reminder",
            name="claimed_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="最近开始处理时间"),
        ),
        migrations.AddField(
            model_name="reminder",
            name="delivered_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="短信发完时间"),
        ),
        migrations.AddField(
            model_name="reminder",
            name="last_queued_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, verbose_name="最近排队时间"
            ),
        ),
        migrations.AddField(
            model_name="reminder",
            name="processed",
            field=models.PositiveIntegerField(default=0, verbose_name="已处理人数"),
        ),
        migrations.RunPython(mark_existing_delivered, migrations.RunPython.noop),
    ]
