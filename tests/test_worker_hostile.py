"""Issue 8 with a real Celery worker (prefork and solo pools, Redis, PostgreSQL; CI runs these):
the reader's child process starts from a daemonic prefork child, a hostile file is refused, and
the worker keeps serving the next upload."""

from __future__ import annotations

import os
import time

import pytest

from enrollment import hostile, services
from enrollment.models import RosterUpload
from tests.test_worker import start_worker, stop

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL") or "postgres" not in os.environ.get("DATABASE_URL", ""),
        reason="needs REDIS_URL and a PostgreSQL DATABASE_URL (as in CI)",
    ),
]


def wait_until_settled(upload: RosterUpload, *, timeout: float = 90) -> RosterUpload:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        upload.refresh_from_db()
        if not upload.is_in_progress:
            return upload
        time.sleep(0.3)
    return upload


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_worker_refuses_a_hostile_file_and_keeps_serving(
    pool, queue_prefix, filer_1012, school_1012, year, rows_1012, workbook
):
    worker = start_worker(queue_prefix, "files", pool=pool)
    try:
        hostile_upload = services.roster_upload_create(
            user=filer_1012,
            school=school_1012,
            year=year,
            file_name="corner.xlsx",
            content=hostile.sparse_corner(),
        )
        valid_upload = services.roster_upload_create(
            user=filer_1012,
            school=school_1012,
            year=year,
            file_name="ok.xlsx",
            content=workbook(rows_1012(3)),
        )
        hostile_upload = wait_until_settled(hostile_upload)
        valid_upload = wait_until_settled(valid_upload)
        alive = worker.poll() is None
    finally:
        output = stop(worker)
    assert hostile_upload.state == RosterUpload.State.REFUSED, output[-3000:]
    assert "16,384 列" in hostile_upload.refusal["message"]
    assert (valid_upload.state, valid_upload.rows_valid) == (RosterUpload.State.CHECKED, 3), output[
        -3000:
    ]
    assert alive, output[-3000:]
