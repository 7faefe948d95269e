"""Each kind of work has its queue; the stack runs a worker for each and beat exactly once."""

from __future__ import annotations

import re
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings as django_settings

from config.celery import app as celery_app
from config.queueing import BULK_PRIORITY, HEARTBEAT, PRIORITY, route_task

ROOT = Path(django_settings.BASE_DIR)


def routed(name: str, *args: object) -> dict:
    return route_task(name, args, {}, {})


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_every_task_of_the_portal_has_a_queue():
    celery_app.loader.import_default_modules()
    names = [name for name in celery_app.tasks if not name.startswith("celery.")]
    assert len(names) > 8
    for name in names:
        args = ("files",) if name == HEARTBEAT else ()
        assert routed(name, *args)["queue"] in django_settings.QUEUES, name


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("confirmations.tasks.create_account", "accounts"),
        ("desk.tasks.run_batch_confirmation", "batches"),
        ("enrollment.tasks.check_roster_upload", "files"),
        ("enrollment.tasks.commit_roster_upload", "files"),
    ],
)
def test_accounts_batches_and_files_each_have_their_own_queue(task, queue):
    assert routed(task) == {"queue": queue, "priority": PRIORITY}


def test_queue_names_carry_the_deployments_prefix(settings):
    settings.QUEUE_PREFIX = "test-1a2b-"
    assert routed("confirmations.tasks.create_account")["queue"] == "test-1a2b-accounts"


def test_heartbeat_goes_through_the_queue_it_is_sent_for_ahead_of_waiting_work():
    route = routed(HEARTBEAT, "batches")
    assert route["queue"] == "batches"
    assert route["priority"] < PRIORITY  # on Redis, lower is served first


def test_a_batchs_accounts_queue_behind_students_own_confirmations(
    stored_1012, filer_1012, policy_year, signature_png, django_capture_on_commit_callbacks
):
    from confirmations import services
    from confirmations.models import BatchConfirmation
    from enrollment.models import StudentRecord

    first, second = StudentRecord.objects.order_by("pk")[:2]
    batch = BatchConfirmation.objects.create(
        created_by=filer_1012, policy_year=policy_year, paper_pledges_attested=True, source="t"
    )
    with (
        mock.patch("confirmations.tasks.create_account.apply_async") as publish,
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.application_submit(
            record=first,
            policy_year=policy_year,
            signature=services.PledgeSignature(png=signature_png, client_ip=None, user_agent=""),
        )
        services.application_submit(
            record=second,
            policy_year=policy_year,
            confirmed_by=filer_1012,
            paper_pledge_attested=True,
            batch=batch,
        )
    own, on_behalf = publish.call_args_list
    assert own.kwargs == {}  # the route's priority
    assert on_behalf.kwargs == {"priority": BULK_PRIORITY}
    assert BULK_PRIORITY > PRIORITY


def test_the_stack_runs_gunicorn_a_worker_per_queue_and_beat_once():
    processes = procfile()
    assert processes["web"].split()[:3] == ["gunicorn", "--config", "config/gunicorn.py"]
    consumed = [
        re.search(r"--queues \$\{CELERY_QUEUE_PREFIX:-\}(\S+)", command).group(1)
        for command in processes.values()
        if " worker " in command
    ]
    assert sorted(consumed) == sorted(django_settings.QUEUES)
    assert [name for name, command in processes.items() if " beat" in command] == ["beat"]


def test_docker_compose_runs_the_same_commands_as_the_procfile():
    compose = (ROOT / "docker-compose.yml").read_text()
    for name, command in procfile().items():
        assert f"command: {command.strip()}" in compose, name
