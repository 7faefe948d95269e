"""The desk's reminder texts lose nothing and text nobody twice: a reminder whose task was never
queued (broker down) is sent by the batches sweeper, and a redelivered or second copy of its
task sends nothing already sent."""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path

import kombu.exceptions
import pytest
from django.utils import timezone

import confirmations.migrations
from confirmations.models import Reminder
from confirmations.sms import MemorySender
from desk import services
from desk.tasks import requeue_stale_batches, send_reminders

pytestmark = pytest.mark.django_db


def broker_down(*args, **kwargs):
    raise kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:6379.")


@pytest.fixture
def broker(monkeypatch):
    """The broker as the desk meets it: `down()` until `up()`."""

    class Broker:
        def down(self) -> None:
            monkeypatch.setattr(send_reminders, "apply_async", broker_down)

        def up(self) -> None:
            monkeypatch.delattr(send_reminders, "apply_async")

    return Broker()


@pytest.fixture
def later(monkeypatch):
    """Move the clock on by `minutes` (what the sweeper and the lease read)."""
    start = timezone.now()

    def move(minutes: float) -> None:
        monkeypatch.setattr(timezone, "now", lambda: start + dt.timedelta(minutes=minutes))

    return move


@pytest.fixture
def remind(filer_1012, school_1012, stored_1012, policy_year, django_capture_on_commit_callbacks):
    """Send the school's reminder as the desk does (its task queued once the row commits)."""

    def send() -> Reminder:
        with django_capture_on_commit_callbacks(execute=True):
            return services.reminders_send(
                user=filer_1012, school=school_1012, policy_year=policy_year
            )

    return send


def texted(outbox: list[tuple[str, str]]) -> list[str]:
    return sorted(phone for phone, _ in outbox)


def test_reminder_whose_task_could_not_be_queued_is_sent_by_the_sweeper(
    remind, broker, later, _sms_outbox
):
    broker.down()
    reminder = remind()
    assert _sms_outbox == []
    broker.up()
    later(minutes=5)
    requeue_stale_batches()
    assert len(_sms_outbox) == reminder.recipients == 10
    assert len(set(texted(_sms_outbox))) == 10


def test_delivered_reminder_is_not_sent_again_when_its_task_is_redelivered(remind, _sms_outbox):
    reminder = remind()
    assert len(_sms_outbox) == 10
    send_reminders(reminder.pk, reminder.record_ids)  # the broker hands the message out again
    assert len(_sms_outbox) == 10


def test_reminder_claimed_within_its_lease_is_not_sent_by_a_second_copy(
    remind, broker, monkeypatch, _sms_outbox
):
    broker.down()
    reminder = remind()
    broker.up()
    second_copy = []

    def send_while_a_second_copy_runs(self, phone: str, message: str) -> None:
        if not second_copy:  # the first copy is on its first text: the second copy starts now
            second_copy.append(None)
            second_copy[0] = send_reminders(reminder.pk, reminder.record_ids)
        self.outbox.append((phone, message))

    monkeypatch.setattr(MemorySender, "send", send_while_a_second_copy_runs)
    send_reminders(reminder.pk, reminder.record_ids)
    assert second_copy == [0]
    assert len(_sms_outbox) == 10 and len(set(texted(_sms_outbox))) == 10


def test_sweeper_leaves_a_fresh_reminder_to_its_own_task(remind, broker, later, _sms_outbox):
    broker.down()
    remind()
    broker.up()
    later(minutes=1)  # its message may still be on its way: not queued a second time yet
    requeue_stale_batches()
    assert _sms_outbox == []
    later(minutes=5)
    requeue_stale_batches()
    assert len(_sms_outbox) == 10


def test_reminder_cut_off_mid_way_is_resumed_after_the_last_student_texted(
    remind, broker, later, monkeypatch, _sms_outbox
):
    broker.down()
    reminder = remind()
    broker.up()
    original = MemorySender.send

    def dies_on_the_fourth(self, phone: str, message: str) -> None:
        if len(self.outbox) == 3:
            raise SystemExit("worker killed")
        original(self, phone, message)

    monkeypatch.setattr(MemorySender, "send", dies_on_the_fourth)
    with pytest.raises(SystemExit):
        send_reminders(reminder.pk, reminder.record_ids)
    monkeypatch.setattr(MemorySender, "send", original)
    later(minutes=5)
    requeue_stale_batches()
    assert len(_sms_outbox) == 10 and len(set(texted(_sms_outbox))) == 10


def test_reminder_not_sent_within_a_day_is_left_unsent(remind, broker, later, _sms_outbox):
    """By then the desk may have reminded the same students again (reminder_plan's 24 hours)."""
    broker.down()
    reminder = remind()
    broker.up()
    later(minutes=25 * 60)
    requeue_stale_batches()
    send_reminders(reminder.pk, reminder.record_ids)  # its message, a day late
    assert _sms_outbox == []
    assert Reminder.objects.get().delivery_state == "未发送（已超过 24 小时）"


def test_admin_lists_whether_each_reminder_was_sent(client, city_admin, remind, broker):
    remind()
    broker.down()
    Reminder.objects.update(created_at=timezone.now() - dt.timedelta(days=2))  # a day later
    remind()
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client.force_login(city_admin)
    html = client.get("/admin/confirmations/reminder/").content.decode()
    assert "发送状态" in html and "已发送" in html and "待发送" in html


def test_migration_marks_reminders_stored_before_it_as_delivered(remind, broker):
    from django.apps import apps

    broker.down()
    reminder = remind()
    # Found by name, not number: the lead renumbers migrations at merge.
    found = next(Path(confirmations.migrations.__file__).parent.glob("*_reminder_delivery.py"))
    migration = importlib.import_module(f"confirmations.migrations.{found.stem}")
    migration.mark_existing_delivered(apps, None)
    reminder.refresh_from_db()
    assert reminder.delivered_at == reminder.created_at
    assert reminder.processed == reminder.recipients == 10
