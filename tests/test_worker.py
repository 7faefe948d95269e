"""End to end with a real Celery worker process on Redis and PostgreSQL (CI runs these).

Skipped where there is no Redis broker or the database is not PostgreSQL: the worker is a
separate process, so it must reach the same test database over the network.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config.celery import app as celery_app
from confirmations import services
from confirmations.models import Application, BatchConfirmation, InsuranceAccount
from enrollment.models import StudentRecord
from health.models import Heartbeat

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL") or "postgres" not in os.environ.get("DATABASE_URL", ""),
        reason="needs REDIS_URL and a PostgreSQL DATABASE_URL (as in CI)",
    ),
]
ROOT = Path(settings.BASE_DIR)


def start_worker(
    prefix: str, *queues: str, pool: str = "solo", env: dict[str, str] | None = None
) -> subprocess.Popen:
    """A worker process consuming the named queues (all of settings.QUEUES by default), with
    `env` added to its environment."""
    db = connection.settings_dict
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        CELERY_QUEUE_PREFIX=prefix,
        **(env or {}),
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            f"--pool={pool}",
            "--concurrency=1",
            "-Q",
            ",".join(prefix + queue for queue in queues or settings.QUEUES),
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_state(application: Application, *, timeout: float = 60) -> Application:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        application.refresh_from_db()
        if application.state != Application.State.PENDING:
            return application
        time.sleep(0.3)
    return application


def stop(worker: subprocess.Popen) -> str:
    worker.terminate()
    try:
        output, _ = worker.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        output, _ = worker.communicate()
    return output


@pytest.fixture
def record(stored_1012, policy_year):
    return StudentRecord.objects.get(id_number=stored_1012[0]["证件号码"])


def test_accounts_worker_creates_the_account_of_a_submitted_confirmation(
    record, policy_year, signature_png, queue_prefix
):
    worker = start_worker(queue_prefix, "accounts")
    try:
        application = services.application_submit(
            record=record,
            policy_year=policy_year,
            signature=services.PledgeSignature(
                png=signature_png, client_ip=None, user_agent="test"
            ),
        )
        application = wait_for_state(application)
    finally:
        output = stop(worker)
    assert application.state == Application.State.CREATED, output[-3000:]
    assert application.benefit_end == dt.date(record.enrollment_year, 12, 31)
    assert InsuranceAccount.objects.filter(id_number=record.id_number).exists()


def test_confirmation_whose_task_was_lost_is_recovered_by_the_sweeper(
    record, policy_year, signature_png, queue_prefix
):
    with mock.patch(
        "confirmations.tasks.create_account.apply_async"
    ):  # the broker lost the message
        application = services.application_submit(
            record=record,
            policy_year=policy_year,
            signature=services.PledgeSignature(
                png=signature_png, client_ip=None, user_agent="test"
            ),
        )
    Application.objects.filter(pk=application.pk).update(
        last_queued_at=timezone.now() - dt.timedelta(minutes=5)
    )
    worker = start_worker(queue_prefix, "accounts")
    try:
        assert services.applications_requeue_stale(older_than=dt.timedelta(minutes=3)) == 1
        application = wait_for_state(application)
    finally:
        output = stop(worker)
    assert application.state == Application.State.CREATED, output[-3000:]


def test_a_students_own_account_is_created_before_a_waiting_batchs_accounts(
    stored_1012, filer_1012, policy_year, signature_png, queue_prefix
):
    records = list(StudentRecord.objects.order_by("student_number"))
    batch = BatchConfirmation.objects.create(
        created_by=filer_1012,
        policy_year=policy_year,
        paper_pledges_attested=True,
        source="test",
        record_ids=[record.pk for record in records[:-1]],
    )
    on_behalf = [
        services.application_submit(
            record=record,
            policy_year=policy_year,
            confirmed_by=filer_1012,
            paper_pledge_attested=True,
            batch=batch,
        )
        for record in records[:-1]
    ]
    own = services.application_submit(
        record=records[-1],
        policy_year=policy_year,
        signature=services.PledgeSignature(png=signature_png, client_ip=None, user_agent="test"),
    )
    worker = start_worker(queue_prefix, "accounts")  # starts with all of them queued
    try:
        done = [wait_for_state(application) for application in [own, *on_behalf]]
    finally:
        output = stop(worker)
    assert {a.state for a in done} == {Application.State.CREATED}, output[-3000:]
    assert done[0].processed_at < min(a.processed_at for a in done[1:])


def test_heartbeat_is_run_by_a_worker_of_the_queue_it_is_sent_through(queue_prefix):
    worker = start_worker(queue_prefix, "files")
    try:
        for queue in ("files", "accounts"):
            celery_app.tasks["health.tasks.heartbeat"].apply_async((queue,))
        deadline = time.monotonic() + 60
        while not Heartbeat.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(1)  # the accounts heartbeat, were it wrongly routed, would arrive now
    finally:
        output = stop(worker)
    assert list(Heartbeat.objects.values_list("queue", flat=True)) == [f"{queue_prefix}files"], (
        output[-3000:]
    )
