"""Issue 11 with real processes (a Celery worker, Redis, PostgreSQL; CI runs these): a killed
worker, cut database connections, a stopped or frozen broker and two filers writing at once lose
nothing, duplicate nothing and show no error page. Figures at scale: bench/faults.py and
docs/reliability.md.

The shared Redis on 6379 is never stopped: the broker outages use a redis-server of their own.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from django.db import connection
from django.urls import reverse

from config.celery import app as celery_app
from confirmations import services
from confirmations.models import Application, BatchConfirmation, InsuranceAccount
from desk import services as staff
from enrollment.models import StudentRecord
from tests.test_worker import start_worker

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL") or "postgres" not in os.environ.get("DATABASE_URL", ""),
        reason="needs REDIS_URL and a PostgreSQL DATABASE_URL (as in CI)",
    ),
]


class Worker:
    """A worker process whose output is read as it comes (a full pipe would stall it)."""

    def __init__(self, prefix: str, *queues: str, **kwargs: object) -> None:
        self.process = start_worker(prefix, *queues, **kwargs)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)[-4000:]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        return self.output


def wait_for(condition, *, timeout: float = 90, every: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


@pytest.fixture
def many_1012(school_1012, filer_1012, year, rows_1012, workbook, policy_year):
    from enrollment.importer import roster_import

    roster_import(
        content=workbook(rows_1012(120)),
        school=school_1012,
        year=year,
        user=filer_1012,
        commit=True,
    )
    return list(StudentRecord.objects.order_by("pk").values_list("pk", flat=True))


# --- a worker killed in the middle of a batch ------------------------------------------------


def test_a_batch_whose_worker_was_killed_confirms_every_student_once_after_a_restart(
    many_1012, filer_1012, policy_year, queue_prefix
):
    batch = staff.batch_confirmation_create(
        user=filer_1012,
        policy_year=policy_year,
        record_ids=many_1012,
        attested=True,
        source="kill -9",
    )
    env = {"BATCH_CHUNK_SIZE": "10"}
    worker = Worker(queue_prefix, "batches", env=env)
    try:
        started = wait_for(
            lambda: BatchConfirmation.objects.get(pk=batch.pk).processed >= 30, every=0.05
        )
        worker.kill()  # mid-batch: a chunk's transaction is cut off with the process
        first = worker.output
    finally:
        worker.stop()
    batch.refresh_from_db()
    assert started and batch.state == "running" and batch.processed < batch.total, first

    # Its message died unacknowledged with the worker; the sweeper finds the stopped batch.
    time.sleep(1.1)
    waiting = staff.waiting_messages("batches")  # killed after queueing its next chunk: rare
    assert staff.batches_requeue_stale(older_than=dt.timedelta(seconds=1)) == 1 or waiting
    worker = Worker(queue_prefix, "batches", "accounts", env=env)
    try:
        done = wait_for(lambda: BatchConfirmation.objects.get(pk=batch.pk).state == "done")
        # A kill between a chunk's commit and the publishing of its accounts leaves those
        # applications unqueued: the accounts sweeper (beat, every minute) finds them once the
        # accounts queue has drained.
        wait_for(lambda: staff.waiting_messages("accounts") == 0)
        time.sleep(1.1)
        services.applications_requeue_stale(older_than=dt.timedelta(seconds=1))
        settled = wait_for(lambda: not Application.objects.filter(state="pending").exists())
    finally:
        output = worker.stop()
    batch.refresh_from_db()
    assert done and settled, output
    assert Application.objects.count() == len(many_1012)  # no one twice
    assert Application.objects.values("id_number").distinct().count() == len(many_1012)
    assert batch.results["counts"]["confirmed"] == len(many_1012)
    # An account for each (a waiting period's comes on its day, seed 03), none twice.
    assert not Application.objects.filter(state="failed").exists()
    assert InsuranceAccount.objects.count() == Application.objects.filter(state="created").count()


def test_the_heartbeat_runs_between_a_long_batchs_chunks(
    many_1012, filer_1012, policy_year, queue_prefix
):
    from health.models import Heartbeat

    worker = Worker(queue_prefix, "batches", env={"BATCH_CHUNK_SIZE": "5"})
    try:
        batch = staff.batch_confirmation_create(
            user=filer_1012,
            policy_year=policy_year,
            record_ids=many_1012,
            attested=True,
            source="readyz",
        )
        wait_for(lambda: BatchConfirmation.objects.get(pk=batch.pk).processed >= 5, every=0.05)
        celery_app.tasks["health.tasks.heartbeat"].apply_async(("batches",))
        beat = wait_for(Heartbeat.objects.exists, every=0.05)
        done = wait_for(lambda: BatchConfirmation.objects.get(pk=batch.pk).state == "done")
    finally:
        output = worker.stop()
    batch.refresh_from_db()
    assert beat and done, output
    assert Heartbeat.objects.get().beat_at < batch.finished_at  # not behind the whole batch


# --- the database drops the worker's connections ---------------------------------------------


def terminate_other_sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def submit(record: StudentRecord, policy_year, signature_png: bytes) -> Application:
    return services.application_submit(
        record=record,
        policy_year=policy_year,
        signature=services.PledgeSignature(png=signature_png, client_ip=None, user_agent="test"),
    )


def test_the_next_task_succeeds_after_the_database_dropped_the_workers_connections(
    stored_1012, policy_year, signature_png, queue_prefix
):
    first, second = StudentRecord.objects.order_by("pk")[:2]
    worker = Worker(queue_prefix, "accounts")
    try:
        before = submit(first, policy_year, signature_png)
        assert wait_for(lambda: Application.objects.get(pk=before.pk).state == "created")
        assert terminate_other_sessions() >= 1  # the worker's, idle between tasks
        started = time.monotonic()
        after = submit(second, policy_year, signature_png)
        created = wait_for(lambda: Application.objects.get(pk=after.pk).state == "created")
        seconds = time.monotonic() - started
    finally:
        output = worker.stop()
    assert created, output
    assert seconds < 10, output
    assert "connection already closed" not in output


def test_a_batch_chunk_cut_off_from_the_database_is_retried_and_completes(
    many_1012, filer_1012, policy_year, queue_prefix
):
    worker = Worker(queue_prefix, "batches", env={"BATCH_CHUNK_SIZE": "10"})
    try:
        batch = staff.batch_confirmation_create(
            user=filer_1012,
            policy_year=policy_year,
            record_ids=many_1012,
            attested=True,
            source="pg_terminate_backend",
        )
        wait_for(lambda: BatchConfirmation.objects.get(pk=batch.pk).processed >= 20, every=0.05)
        terminate_other_sessions()  # mid-batch
        done = wait_for(lambda: BatchConfirmation.objects.get(pk=batch.pk).state == "done")
    finally:
        output = worker.stop()
    batch.refresh_from_db()
    assert done, output
    assert Application.objects.count() == len(many_1012)
    assert batch.results["counts"]["confirmed"] == len(many_1012)


# --- the broker stops or freezes --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OwnRedis:
    """A redis-server of this test's own, to stop and start (never the shared one)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(self._answers, timeout=10)

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)


@pytest.fixture
def own_redis(settings, queue_prefix) -> Iterator[OwnRedis]:
    """The site and its workers on a Redis of their own: the test process publishes to it."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    broker = OwnRedis()
    broker.start()
    saved = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    settings.CELERY_BROKER_URL = broker.url
    celery_app.conf.broker_url = broker.url
    celery_app.conf.broker_transport_options = settings.REDIS_TRANSPORT_OPTIONS
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    yield broker
    celery_app.conf.broker_url, celery_app.conf.broker_transport_options = saved
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    broker.stop()


def confirm_as_student(client, row: dict, signature_data_url: str, sign_in) -> tuple:
    sign_in(client, row["姓名"], row["证件号码"])
    client.get(client.get(reverse("student:start")).url)
    started = time.monotonic()
    response = client.post(
        reverse("student:pledge"), {"agree": "on", "signature": signature_data_url}
    )
    return response, time.monotonic() - started


def test_a_student_confirms_while_the_broker_is_down_and_gets_the_account_when_it_returns(
    client, stored_1012, policy_year, signature_data_url, sign_in_student, own_redis, queue_prefix
):
    worker = Worker(queue_prefix, "accounts", env={"REDIS_URL": own_redis.url})
    try:
        own_redis.stop()
        response, seconds = confirm_as_student(
            client, stored_1012[0], signature_data_url, sign_in_student
        )
        application = Application.objects.get()
        assert response.status_code == 302, response.content[:500]
        assert response.url.endswith(f"{application.approval_number}/submitted/")
        assert seconds < 3
        assert application.state == "pending"

        own_redis.start()  # the broker returns (empty: what was never queued is not there)
        time.sleep(1.1)
        assert services.applications_requeue_stale(older_than=dt.timedelta(seconds=1)) == 1
        created = wait_for(lambda: Application.objects.get().state == "created", timeout=60)
    finally:
        output = worker.stop()
    assert created, output
    assert Application.objects.count() == InsuranceAccount.objects.count() == 1


def test_a_frozen_broker_does_not_hold_the_students_submit(
    client, stored_1012, policy_year, signature_data_url, sign_in_student, own_redis
):
    own_redis.freeze()  # SIGSTOP: connections are accepted and never answered
    response, seconds = confirm_as_student(
        client, stored_1012[0], signature_data_url, sign_in_student
    )
    assert response.status_code == 302
    assert seconds < 5
    assert Application.objects.get().state == "pending"


# --- a record saved while a roster commit runs ----------------------------------------------


def test_a_record_saved_during_a_roster_commit_is_refused_clearly_and_nothing_is_half_stored(
    client, filer_1012, school_1012, year, rows_1012, workbook, policy_year, monkeypatch
):
    from enrollment import importer

    rows = rows_1012(40)
    store = importer._store
    committing = threading.Event()

    def slow_store(plan, **kwargs):
        committing.set()  # the school is locked; the rows are being written
        time.sleep(2)
        return store(plan, **kwargs)

    monkeypatch.setattr(importer, "_store", slow_store)
    outcome: list[object] = []

    def run_commit() -> None:
        try:
            outcome.append(
                importer.roster_import(
                    content=workbook(rows),
                    school=school_1012,
                    year=year,
                    user=filer_1012,
                    commit=True,
                )
            )
        except Exception as exc:
            outcome.append(exc)
        finally:
            connection.close()

    commit = threading.Thread(target=run_commit)
    commit.start()
    assert committing.wait(timeout=30)
    client.force_login(filer_1012)
    from enrollment import rules

    someone_else = rows_1012(41)[40]
    same_student_number = {spec.attribute: someone_else[spec.header] for spec in rules.FIELDS} | {
        "student_number": rows[5]["学号"],  # a student number the file is adding
        "name": "并发新增",
    }
    started = time.monotonic()
    response = client.post(reverse("enrollment:record_create"), same_student_number)
    seconds = time.monotonic() - started
    commit.join(timeout=60)
    assert response.status_code == 200
    assert "正在提交" in response.content.decode(), response.context["form"].errors
    assert seconds < 2  # asked to save again, not held behind the commit
    assert not isinstance(outcome[0], Exception), outcome
    assert outcome[0].committed and outcome[0].inserted == 40
    assert StudentRecord.objects.count() == 40
    assert not StudentRecord.objects.filter(name="并发新增").exists()
