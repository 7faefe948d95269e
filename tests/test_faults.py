"""Faults in one process: a broker that is down or frozen, a worker that dies in a batch, a
sweeper that must tell lost work from waiting work. The same faults with real processes are in
tests/test_worker_faults.py; the figures in docs/reliability.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import time

import kombu.exceptions
import pytest
from celery import Celery
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from config.celery import app as celery_app
from confirmations import services
from confirmations.models import Application, BatchConfirmation
from desk import services as staff
from enrollment.models import StudentRecord

pytestmark = pytest.mark.django_db


def broker_down(*args, **kwargs):
    raise kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:6379.")


# --- the broker -----------------------------------------------------------------------------


def test_student_sees_the_submitted_page_when_the_broker_is_down(
    client,
    stored_1012,
    policy_year,
    sign_in_student,
    signature_data_url,
    monkeypatch,
    django_capture_on_commit_callbacks,
    caplog,
):
    monkeypatch.setattr("confirmations.tasks.create_account.apply_async", broker_down)
    row = stored_1012[0]
    sign_in_student(client, row["姓名"], row["证件号码"])
    client.get(client.get(reverse("student:start")).url)  # start, then the record's page
    with django_capture_on_commit_callbacks(execute=True), caplog.at_level(logging.WARNING):
        response = client.post(
            reverse("student:pledge"), {"agree": "on", "signature": signature_data_url}
        )
    application = Application.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("student:submitted", args=[application.approval_number])
    assert application.state == Application.State.PENDING
    assert application.pledge.signature_png
    assert "left to the sweeper" in caplog.text
    assert row["证件号码"] not in caplog.text and row["姓名"] not in caplog.text


def test_filer_batch_confirm_is_accepted_when_the_broker_is_down(
    client, filer_1012, stored_1012, policy_year, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("desk.tasks.run_batch_confirmation.apply_async", broker_down)
    client.force_login(filer_1012)
    ids = list(StudentRecord.objects.values_list("pk", flat=True)[:2])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("desk:batch_confirm"), {"ids": ids, "attested": "on"})
    assert response.status_code == 302
    assert BatchConfirmation.objects.get().state == BatchConfirmation.State.QUEUED


def frozen_broker() -> tuple[socket.socket, int]:
    """A port that accepts connections (the kernel does) and never answers: a SIGSTOPped Redis."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener, listener.getsockname()[1]


def test_publishing_to_a_frozen_broker_gives_up_within_a_few_seconds(settings):
    listener, port = frozen_broker()
    # Not the current app: the project's tasks must not follow it to the frozen port.
    app = Celery("frozen", broker=f"redis://127.0.0.1:{port}/0", set_as_current=False)
    app.conf.update(
        broker_transport_options=settings.REDIS_TRANSPORT_OPTIONS,
        broker_connection_timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT,
        task_publish_retry_policy=settings.CELERY_TASK_PUBLISH_RETRY_POLICY,
    )
    outcome: list[BaseException | None] = []

    def publish() -> None:
        try:
            app.send_task("confirmations.tasks.create_account", (1,))
            outcome.append(None)
        except Exception as exc:  # what enqueue catches
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    thread.join(timeout=15)
    seconds = time.monotonic() - started
    listener.close()
    assert not thread.is_alive(), "publishing still waits on the frozen broker after 15 s"
    assert seconds < 5
    assert isinstance(outcome[0], BaseException)


def test_enqueue_reports_a_publish_the_broker_refused(monkeypatch):
    from config.queueing import enqueue

    monkeypatch.setattr(
        "config.queueing._task", lambda name: type("T", (), {"apply_async": broker_down})
    )
    assert enqueue("confirmations.tasks.create_account", 1) is False


# --- batches --------------------------------------------------------------------------------


@pytest.fixture
def batch_of_three(filer_1012, stored_1012, policy_year, monkeypatch, settings):
    monkeypatch.setattr("desk.services.enqueue_on_commit", lambda *a, **k: None)
    settings.BATCH_CHUNK_SIZE = 2
    ids = list(StudentRecord.objects.order_by("pk").values_list("pk", flat=True)[:3])
    return staff.batch_confirmation_create(
        user=filer_1012, policy_year=policy_year, record_ids=ids, attested=True, source="test"
    )


def test_a_batch_runs_a_chunk_per_task_keeping_its_progress(batch_of_three):
    assert staff.batch_confirmation_run(batch_id=batch_of_three.pk) is True
    batch_of_three.refresh_from_db()
    assert (batch_of_three.state, batch_of_three.processed) == ("running", 2)
    assert Application.objects.count() == 2
    assert staff.batch_confirmation_run(batch_id=batch_of_three.pk) is False
    batch_of_three.refresh_from_db()
    assert (batch_of_three.state, batch_of_three.processed) == ("done", 3)
    assert batch_of_three.results["counts"]["confirmed"] == 3


def test_a_chunk_cut_short_stores_nothing_and_is_resumed_where_it_stopped(
    batch_of_three, monkeypatch
):
    submit = services.application_submit
    calls = []

    def dies_on_the_second(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("server closed the connection unexpectedly")
        return submit(**kwargs)

    monkeypatch.setattr(services, "application_submit", dies_on_the_second)
    with pytest.raises(OperationalError):
        staff.batch_confirmation_run(batch_id=batch_of_three.pk)
    batch_of_three.refresh_from_db()
    assert (batch_of_three.processed, Application.objects.count()) == (0, 0)
    while staff.batch_confirmation_run(batch_id=batch_of_three.pk):
        pass
    batch_of_three.refresh_from_db()
    assert batch_of_three.state == "done"
    assert batch_of_three.results["counts"]["confirmed"] == 3
    assert Application.objects.count() == 3


def test_sweeper_resumes_a_running_batch_whose_worker_died(batch_of_three, monkeypatch):
    monkeypatch.setattr("desk.services.waiting_messages", lambda queue: 0)
    staff.batch_confirmation_run(batch_id=batch_of_three.pk)  # the first chunk, then the kill
    BatchConfirmation.objects.update(last_queued_at=timezone.now() - dt.timedelta(minutes=4))
    assert staff.batches_requeue_stale() == 1
    batch_of_three.refresh_from_db()
    assert (batch_of_three.state, batch_of_three.processed) == ("done", 3)
    assert Application.objects.count() == 3
    assert batch_of_three.results["counts"]["confirmed"] == 3


def test_sweeper_leaves_a_batch_whose_next_chunk_waits_in_the_queue(batch_of_three, monkeypatch):
    monkeypatch.setattr("desk.services.waiting_messages", lambda queue: 12)
    BatchConfirmation.objects.update(last_queued_at=timezone.now() - dt.timedelta(minutes=4))
    assert staff.batches_requeue_stale() == 0


def test_a_batch_chunk_that_lost_its_database_is_retried(batch_of_three, monkeypatch):
    from desk.tasks import run_batch_confirmation

    submit = services.application_submit
    calls = []

    def fails_once(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("terminating connection due to administrator command")
        return submit(**kwargs)

    monkeypatch.setattr(services, "application_submit", fails_once)
    monkeypatch.setattr("desk.tasks.DATABASE_RETRIES", 5)
    # Eager: apply() runs the retry at once (its countdown aside) when errors do not propagate.
    celery_app.conf.task_eager_propagates = False
    try:
        run_batch_confirmation.apply(args=(str(batch_of_three.pk),))
    finally:
        celery_app.conf.task_eager_propagates = True
    batch_of_three.refresh_from_db()
    assert batch_of_three.state == "done"
    assert Application.objects.count() == 3


# --- the accounts sweeper -------------------------------------------------------------------


@pytest.fixture
def two_pending(stored_1012, policy_year, signature_png, monkeypatch):
    monkeypatch.setattr("confirmations.tasks.create_account.apply_async", lambda *a, **k: None)
    for row in stored_1012[:2]:
        services.application_submit(
            record=StudentRecord.objects.get(id_number=row["证件号码"]),
            policy_year=policy_year,
            signature=services.PledgeSignature(png=signature_png, client_ip=None, user_agent="t"),
        )
    Application.objects.update(last_queued_at=timezone.now() - dt.timedelta(minutes=5))
    monkeypatch.undo()
    return list(Application.objects.order_by("pk"))


def sweep() -> int:
    return services.applications_requeue_stale(older_than=dt.timedelta(minutes=3))


def test_sweeper_leaves_unclaimed_applications_while_their_queue_has_a_backlog(
    two_pending, monkeypatch
):
    monkeypatch.setattr("confirmations.services.waiting_messages", lambda queue: 6000)
    assert sweep() == 0
    assert set(Application.objects.values_list("state", flat=True)) == {"pending"}


def test_sweeper_queues_unclaimed_applications_again_once_their_queue_is_empty(
    two_pending, monkeypatch
):
    monkeypatch.setattr("confirmations.services.waiting_messages", lambda queue: 0)
    assert sweep() == 2
    assert set(Application.objects.values_list("state", flat=True)) == {"created"}


def test_sweeper_queues_again_an_application_claimed_by_a_worker_that_died(
    two_pending, monkeypatch
):
    monkeypatch.setattr("confirmations.services.waiting_messages", lambda queue: 6000)
    Application.objects.filter(pk=two_pending[0].pk).update(
        claimed_at=timezone.now() - dt.timedelta(minutes=4)
    )
    assert sweep() == 1
    assert Application.objects.get(pk=two_pending[0].pk).state == "created"
    assert Application.objects.get(pk=two_pending[1].pk).state == "pending"


def test_sweeper_queues_nothing_while_the_broker_does_not_answer(two_pending, monkeypatch):
    monkeypatch.setattr("confirmations.services.waiting_messages", lambda queue: None)
    assert sweep() == 0


def test_a_worker_claims_an_application_before_creating_its_account(two_pending):
    services.account_create(application_id=two_pending[0].pk)
    assert Application.objects.get(pk=two_pending[0].pk).claimed_at is not None


def test_a_sweeper_stops_at_the_first_publish_the_broker_refuses(two_pending, monkeypatch):
    monkeypatch.setattr("confirmations.services.waiting_messages", lambda queue: 0)
    # Each refused publish costs its timeouts: a thousand of them would hold the sweep for an
    # hour. The rest keep their old stamp, so the next sweep finds them again.
    calls = []

    def refused(*args, **kwargs):
        calls.append(args)
        return False

    monkeypatch.setattr("config.queueing.enqueue", refused)
    assert sweep() == 0
    assert len(calls) == 1
    assert (
        Application.objects.filter(
            last_queued_at__gt=timezone.now() - dt.timedelta(minutes=1)
        ).count()
        == 0
    )
