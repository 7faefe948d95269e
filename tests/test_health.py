"""/healthz and /readyz: what a load balancer and a monitor learn, and what they never see.

The real processes (gunicorn, workers, beat, Redis stopped) are exercised in e2e/test_health.py.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from unittest import mock

import pytest
import redis
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from django.utils import timezone

from confirmations.models import Application, BatchConfirmation
from enrollment.models import RosterUpload, StudentRecord
from health.models import Heartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _broker(settings, tmp_path):
    """The development folder broker, which answers; asked afresh on every call."""
    settings.READYZ_BROKER_CACHE_SECONDS = 0
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}


def beat_all(settings, *, ago: dt.timedelta = dt.timedelta(0), prefix: str | None = None):
    prefix = settings.QUEUE_PREFIX if prefix is None else prefix
    for queue in settings.QUEUES:
        Heartbeat.objects.update_or_create(
            queue=prefix + queue, defaults={"beat_at": timezone.now() - ago}
        )


def readyz(client) -> tuple[int, dict]:
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    return response.status_code, json.loads(response.content)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends


def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok"}


def test_health_endpoints_answer_a_load_balancer_that_probes_by_ip_address(client, settings):
    beat_all(settings)
    assert client.get("/healthz", HTTP_HOST="10.0.0.7").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.0.0.7").status_code == 200
    assert client.get("/student/", HTTP_HOST="10.0.0.7").status_code == 400  # the rest still checks


def test_readyz_is_ready_when_database_broker_beat_and_every_queue_are_fine(client, settings):
    beat_all(settings, ago=dt.timedelta(seconds=10))
    status, body = readyz(client)
    assert status == 200
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    assert body["checks"]["beat"] == {"ok": True, "age_seconds": 10, "limit_seconds": 120}
    assert set(body["checks"]["queues"]) == {"accounts", "batches", "files"}
    assert body["checks"]["queues"]["accounts"] == {
        "ok": True,
        "heartbeat_age_seconds": 10,
        "oldest_waiting_seconds": None,
        "wait_limit_seconds": None,
    }


def test_readyz_is_not_ready_when_redis_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"  # nothing listens
    beat_all(settings)
    status, body = readyz(client)
    assert status == 503
    assert body["status"] == "not ready"
    assert body["checks"]["broker"]["ok"] is False


def test_readyz_is_not_ready_when_redis_does_not_answer_in_time(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    beat_all(settings)
    with mock.patch.object(redis.Redis, "ping", side_effect=redis.TimeoutError("timed out")):
        status, body = readyz(client)
    assert status == 503
    assert body["checks"]["broker"]["ok"] is False


def test_the_broker_is_asked_at_most_every_few_seconds(client, settings):
    settings.READYZ_BROKER_CACHE_SECONDS = 60
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"  # not asked by another test
    beat_all(settings)
    with mock.patch.object(redis.Redis, "ping", return_value=True) as ping:
        for _ in range(3):
            client.get("/readyz")
    assert ping.call_count == 1


def test_readyz_is_not_ready_when_the_database_is_unreachable(client):
    with mock.patch(
        "health.readiness._heartbeats", side_effect=OperationalError("connection refused")
    ):
        status, body = readyz(client)
    assert status == 503
    assert body["checks"]["database"] == {"ok": False}
    assert "beat" not in body["checks"]


def test_readyz_is_not_ready_before_beat_has_sent_any_heartbeat(client):
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["beat"] == {"ok": False, "age_seconds": None, "limit_seconds": 120}


def test_readyz_is_not_ready_when_beat_or_the_workers_stopped(client, settings):
    beat_all(settings, ago=dt.timedelta(seconds=121))
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["beat"]["ok"] is False
    assert not any(queue["ok"] for queue in body["checks"]["queues"].values())


def test_readyz_is_not_ready_when_one_queue_has_no_live_worker(client, settings):
    beat_all(settings)
    Heartbeat.objects.filter(queue=settings.QUEUE_PREFIX + "files").update(
        beat_at=timezone.now() - dt.timedelta(minutes=5)
    )
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["beat"]["ok"] is True
    assert body["checks"]["queues"]["files"]["ok"] is False
    assert body["checks"]["queues"]["accounts"]["ok"] is True


def test_readyz_counts_only_the_heartbeats_of_its_own_queues(client, settings):
    beat_all(settings, prefix="another-deployment-")
    status, _ = readyz(client)
    assert status == 503


@pytest.fixture
def pending_application(stored_1012, policy_year, signature_png, monkeypatch):
    """A submitted confirmation whose account task has not run yet."""
    from confirmations import services

    monkeypatch.setattr("confirmations.tasks.create_account.apply_async", lambda *a, **k: None)
    record = StudentRecord.objects.order_by("pk").first()
    return services.application_submit(
        record=record,
        policy_year=policy_year,
        signature=services.PledgeSignature(png=signature_png, client_ip=None, user_agent="test"),
    )


def test_readyz_is_not_ready_when_an_application_waits_longer_than_promised(
    client, settings, pending_application, policy_year
):
    beat_all(settings)
    queued = timezone.now() - dt.timedelta(minutes=policy_year.promised_minutes, seconds=5)
    Application.objects.update(submitted_at=queued, last_queued_at=queued)
    status, body = readyz(client)
    assert status == 503
    accounts = body["checks"]["queues"]["accounts"]
    assert accounts["ok"] is False
    assert accounts["wait_limit_seconds"] == policy_year.promised_minutes * 60
    assert accounts["oldest_waiting_seconds"] > accounts["wait_limit_seconds"]


def test_readyz_is_ready_while_applications_wait_within_the_promise(
    client, settings, pending_application, policy_year
):
    beat_all(settings)
    queued = timezone.now() - dt.timedelta(minutes=29)
    Application.objects.update(submitted_at=queued, last_queued_at=queued)
    status, body = readyz(client)
    assert status == 200
    assert body["checks"]["queues"]["accounts"]["oldest_waiting_seconds"] == 29 * 60


def test_readyz_is_not_ready_when_a_batch_waits_longer_than_promised(
    client, settings, filer_1012, policy_year
):
    beat_all(settings)
    batch = BatchConfirmation.objects.create(
        created_by=filer_1012, policy_year=policy_year, paper_pledges_attested=True, source="test"
    )
    long_ago = timezone.now() - dt.timedelta(minutes=31)
    BatchConfirmation.objects.filter(pk=batch.pk).update(
        created_at=long_ago, last_queued_at=long_ago
    )
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["queues"]["batches"]["ok"] is False


def test_readyz_is_ready_while_a_long_batch_makes_progress(
    client, settings, filer_1012, policy_year
):
    beat_all(settings)
    batch = BatchConfirmation.objects.create(
        created_by=filer_1012, policy_year=policy_year, paper_pledges_attested=True, source="test"
    )
    # Started long ago, its last chunk a moment ago.
    BatchConfirmation.objects.filter(pk=batch.pk).update(
        state="running", created_at=timezone.now() - dt.timedelta(minutes=45)
    )
    status, body = readyz(client)
    assert status == 200, body


def test_readyz_measures_a_retried_application_from_its_retry(
    client, settings, pending_application, policy_year
):
    beat_all(settings)
    # Submitted hours ago, failed, retried a minute ago.
    Application.objects.update(
        submitted_at=timezone.now() - dt.timedelta(hours=3),
        last_queued_at=timezone.now() - dt.timedelta(minutes=1),
    )
    status, body = readyz(client)
    assert status == 200, body
    assert body["checks"]["queues"]["accounts"]["oldest_waiting_seconds"] == 60


def test_readyz_is_not_ready_when_a_file_waits_too_long_for_its_check(
    client, settings, school_1012, filer_1012, year
):
    beat_all(settings)
    upload = RosterUpload.objects.create(
        school=school_1012, enrollment_year=year, uploaded_by=filer_1012, file_name="a.xlsx"
    )
    long_ago = timezone.now() - dt.timedelta(minutes=settings.FILE_CHECK_PROMISE_MINUTES + 1)
    RosterUpload.objects.filter(pk=upload.pk).update(created_at=long_ago, last_queued_at=long_ago)
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["queues"]["files"]["ok"] is False
    assert body["checks"]["queues"]["accounts"]["ok"] is True


def test_readyz_is_not_ready_when_a_roster_commit_is_stuck(
    client, settings, school_1012, filer_1012, year
):
    beat_all(settings)
    upload = RosterUpload.objects.create(
        school=school_1012, enrollment_year=year, uploaded_by=filer_1012, file_name="a.xlsx"
    )
    RosterUpload.objects.filter(pk=upload.pk).update(
        state="committing",
        last_queued_at=timezone.now()
        - dt.timedelta(minutes=settings.FILE_CHECK_PROMISE_MINUTES + 1),
    )
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["queues"]["files"]["ok"] is False


def test_readyz_is_not_ready_when_an_id_list_waits_too_long_to_be_read(
    client, settings, school_1012, filer_1012, policy_year
):
    from desk.models import IdListUpload

    beat_all(settings)
    IdListUpload.objects.create(
        created_by=filer_1012,
        school=school_1012,
        policy_year=policy_year,
        file_name="ids.xlsx",
        content=b"x",
        paper_pledges_attested=True,
        last_queued_at=timezone.now()
        - dt.timedelta(minutes=settings.FILE_CHECK_PROMISE_MINUTES + 1),
    )
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["queues"]["files"]["ok"] is False


def test_readyz_shows_no_personal_data(client, settings, pending_application):
    beat_all(settings)
    Application.objects.update(submitted_at=timezone.now() - dt.timedelta(hours=2))
    record = pending_application.record
    body = client.get("/readyz").content.decode()
    for personal in (record.id_number, record.name, record.phone, record.student_number):
        assert personal not in body


def test_readyz_reads_a_handful_of_queries(client, settings, django_assert_max_num_queries):
    beat_all(settings)
    # Heartbeats, the oldest work of each queue (roster uploads and ID lists for files) and the
    # oldest waiting-period account whose day has come (6, each on an index or a small table),
    # the statement timeout on PostgreSQL, and the savepoint pair the test's own transaction
    # adds around them.
    with django_assert_max_num_queries(9):
        client.get("/readyz")


def test_heartbeat_records_when_a_worker_of_its_queue_ran_it(settings):
    from health.tasks import heartbeat

    settings.QUEUE_PREFIX = "site-a-"
    heartbeat.delay("files")
    beat = Heartbeat.objects.get()
    assert beat.queue == "site-a-files"
    assert timezone.now() - beat.beat_at < dt.timedelta(seconds=5)


def test_beat_sends_a_heartbeat_through_every_queue(settings):
    heartbeats = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"].startswith("health")
    ]
    assert sorted(entry["args"][0] for entry in heartbeats) == sorted(settings.QUEUES)
    # A heartbeat that waited longer than it may be old is dropped, not recorded late.
    assert {entry["options"]["expires"] for entry in heartbeats} == {
        settings.HEARTBEAT_MAX_AGE_SECONDS
    }


def test_readiness_command_fails_the_beat_container_when_heartbeats_stopped(settings, capsys):
    beat_all(settings, ago=dt.timedelta(minutes=10))
    with pytest.raises(CommandError, match="beat"):
        call_command("readiness", "--check", "beat")
    capsys.readouterr()
    beat_all(settings)
    call_command("readiness", "--check", "beat")
    assert json.loads(capsys.readouterr().out)["beat"]["ok"] is True
