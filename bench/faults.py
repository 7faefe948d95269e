"""Faults with real processes: what a killed worker, cut database connections and a stopped or
frozen broker cost the students (issue 11; the figures in docs/reliability.md).

Run from the project root (PostgreSQL must be running; `redis-server` installed):

    .venv/bin/python bench/faults.py [--students 2000] [--pool solo|prefork] [--only kill,...]

It starts a redis-server of its own on a spare port (the machine's shared Redis is never
stopped), a worker consuming every queue (the production command) and a real `celery beat`
with the production schedule: the sweepers run every minute with their production leases, so
"time to recover" is what a deployment would see. The database is `portal_faults_bench`
(created when missing); the school's records are replaced on every run.

Faults:
    kill     kill -9 the worker halfway through a batch of N students, start it again
    dbcut    terminate every database session of the worker while idle, queue a batch of N,
             terminate them again halfway through it
    broker   stop Redis; students confirm through the student pages (Django's test client);
             start Redis again (empty: what was never queued is not there)
    frozen   SIGSTOP Redis; students confirm; SIGCONT
    none     no fault: the batch of N alone (the baseline for the times above)

Per fault: submitted, applications, accounts created (or waiting-period accounts due later),
duplicated (a second application or account for one person), lost (submitted, not settled),
error pages (HTTP 500 or an exception), the slowest submit, and the time from the fault to the
last account.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_import import ensure_postgres_database, setup_django

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/portal_faults_bench"
FAULTS = ("kill", "dbcut", "broker", "frozen")
BASELINE = "none"  # the same batch with no fault, to read the recovery times against


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Redis:
    """A redis-server of the bench's own."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise SystemExit("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                *(server, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        for _ in range(50):
            with contextlib.suppress(redis.RedisError):
                if redis.Redis.from_url(self.url, socket_timeout=0.5).ping():
                    return
            time.sleep(0.1)
        raise SystemExit("the bench's redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)


class Process:
    """A celery worker or beat, its output in a temporary file."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115  (closed in stop())
            mode="w+", prefix="bench-faults-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)  # the main process, as an OOM kill would
        self.process.wait(timeout=20)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # prefork children of a killed parent
        self.log.flush()
        output = Path(self.log.name).read_text(encoding="utf-8", errors="replace")
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
        return output


@dataclass
class Outcome:
    fault: str
    submitted: int
    applications: int = 0
    created: int = 0
    waiting: int = 0
    duplicated: int = 0
    lost: int = 0
    errors: int = 0
    slowest_submit: float = 0.0
    recovery: float = 0.0
    note: str = ""

    def row(self) -> str:
        settled = f"{self.created:,}" + (f" (+{self.waiting:,} waiting)" if self.waiting else "")
        return (
            f"| {self.fault} | {self.submitted:,} | {self.applications:,} | {settled} | "
            f"{self.duplicated} | {self.lost} | {self.errors} | {self.slowest_submit:.2f} s | "
            f"{self.recovery:.0f} s | {self.note} |"
        )


HEADER = (
    "| fault | submitted | applications | accounts created | duplicated | lost | error pages "
    "| slowest submit | fault → last account | note |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


class Bench:
    def __init__(self, args: argparse.Namespace, redis: Redis, prefix: str) -> None:
        self.args = args
        self.redis = redis
        self.prefix = prefix
        self.env = dict(
            os.environ,
            DATABASE_URL=args.database_url,
            REDIS_URL=redis.url,
            CELERY_QUEUE_PREFIX=prefix,
            DJANGO_DEBUG="false",
            LOG_LEVEL="INFO",
            CELERY_BEAT_SCHEDULE_FILENAME=str(Path(tempfile.gettempdir()) / f"{prefix}beat"),
        )
        self.worker: Process | None = None
        self.beat: Process | None = None
        self.logs: list[str] = []

    # processes

    def start_worker(self) -> None:
        from django.conf import settings

        queues = ",".join(self.prefix + queue for queue in settings.QUEUES)
        self.worker = Process(
            [
                *("worker", f"--pool={self.args.pool}", "--concurrency=2", "-Q", queues),
                *("--without-mingle", "--without-gossip", "--loglevel=INFO"),
            ],
            self.env,
        )

    def start_beat(self) -> None:
        self.beat = Process(["beat", "--loglevel=INFO"], self.env)

    def stop_all(self) -> None:
        for process in (self.worker, self.beat):
            if process is not None:
                self.logs.append(process.stop())
        self.worker = self.beat = None

    # the data

    def fresh_school(self):
        from bench_confirmations import clear_school, make_fixture, store_roster

        fixture = make_fixture(dt.date.today().year)
        clear_school(fixture)
        store_roster(fixture, self.args.students)
        return fixture

    def batch(self, fixture) -> object:
        from desk import services as staff
        from enrollment.models import StudentRecord

        ids = list(
            StudentRecord.objects.filter(school=fixture.school)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        return staff.batch_confirmation_create(
            user=fixture.filer,
            policy_year=fixture.policy_year,
            record_ids=ids,
            attested=True,
            source="bench/faults.py",
        )

    def settle(self, outcome: Outcome, fixture, since: float) -> Outcome:
        """Wait until no application of the school is pending (or the timeout), then count."""
        from django.db.models import Count

        from confirmations.models import Application, BatchConfirmation, InsuranceAccount

        applications = Application.objects.filter(record__school=fixture.school)
        deadline = time.monotonic() + self.args.timeout
        while time.monotonic() < deadline:
            batches_open = BatchConfirmation.objects.filter(
                created_by=fixture.filer, state__in=["queued", "running"]
            ).exists()
            if (
                applications.count() >= outcome.submitted
                and not applications.filter(state="pending").exists()
                and not batches_open
            ):
                break
            time.sleep(1)
        last = applications.exclude(processed_at=None).order_by("-processed_at").first()
        outcome.recovery = time.monotonic() - since if last else 0.0
        outcome.applications = applications.count()
        outcome.created = applications.filter(state="created").count()
        outcome.waiting = applications.filter(state="waiting").count()
        twice = (
            applications.values("id_number").annotate(n=Count("pk")).filter(n__gt=1).count()
            + InsuranceAccount.objects.filter(application__in=applications)
            .values("id_number")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .count()
        )
        outcome.duplicated = twice
        settled = applications.filter(state__in=["created", "waiting"]).count()
        outcome.lost = max(0, outcome.submitted - settled)
        return outcome

    def wait_processed(self, batch, share: float) -> None:
        from confirmations.models import BatchConfirmation

        deadline = time.monotonic() + self.args.timeout
        while time.monotonic() < deadline:
            batch = BatchConfirmation.objects.get(pk=batch.pk)
            if batch.processed >= batch.total * share or batch.state == "done":
                return
            time.sleep(0.05)

    # the faults

    def none(self) -> Outcome:
        fixture = self.fresh_school()
        self.start_beat()
        self.start_worker()
        started = time.monotonic()
        self.batch(fixture)
        outcome = Outcome(
            "no fault (baseline): the batch, queue to last account", self.args.students
        )
        return self.settle(outcome, fixture, started)

    def kill(self) -> Outcome:
        fixture = self.fresh_school()
        self.start_beat()
        self.start_worker()
        batch = self.batch(fixture)
        self.wait_processed(batch, 0.5)
        fault = time.monotonic()
        self.worker.kill()
        self.logs.append(self.worker.stop())
        self.start_worker()
        outcome = Outcome("kill -9 the worker mid-batch, restart", self.args.students)
        outcome.note = f"pool={self.args.pool}"
        return self.settle(outcome, fixture, fault)

    def dbcut(self) -> Outcome:
        fixture = self.fresh_school()
        self.start_beat()
        self.start_worker()
        time.sleep(8)  # the worker has connected (heartbeats ran) and is idle
        fault = time.monotonic()
        cut = terminate_sessions()
        batch = self.batch(fixture)
        self.wait_processed(batch, 0.5)
        cut += terminate_sessions()
        outcome = Outcome("pg_terminate_backend while idle, then mid-batch", self.args.students)
        outcome.note = f"{cut} sessions cut"
        return self.settle(outcome, fixture, fault)

    def students(self, fixture, count: int) -> tuple[int, float]:
        """`count` students confirm through the pages; returns (error pages, slowest seconds)."""
        from django.test import Client
        from django.urls import reverse

        from confirmations.sms import MemorySender
        from enrollment.models import StudentRecord

        signature = signature_data_url()
        errors, slowest = 0, 0.0
        records = StudentRecord.objects.filter(school=fixture.school).order_by("pk")[:count]
        for index, record in enumerate(records):
            client = Client(
                REMOTE_ADDR=f"10.{index // 60000}.{index // 250 % 240}.{index % 250 + 1}"
            )
            try:
                client.post(
                    reverse("student:identify"),
                    {"name": record.name, "id_number": record.id_number},
                )
                code = re.search(r"\d{6}", MemorySender.outbox[-1][1]).group()
                client.post(reverse("student:verify"), {"code": code})
                client.get(client.get(reverse("student:start")).url)
                started = time.monotonic()
                response = client.post(
                    reverse("student:pledge"), {"agree": "on", "signature": signature}
                )
                slowest = max(slowest, time.monotonic() - started)
                if response.status_code != 302 or "/submitted/" not in response.url:
                    errors += 1
            except Exception:
                errors += 1
        return errors, slowest

    def broker(self) -> Outcome:
        fixture = self.fresh_school()
        self.start_beat()
        self.start_worker()
        time.sleep(5)
        count = min(self.args.students, self.args.web_students)
        fault = time.monotonic()
        self.redis.stop()
        errors, slowest = self.students(fixture, count)
        down = time.monotonic() - fault
        self.redis.start()
        outcome = Outcome("Redis stopped while students confirm, started again", count)
        outcome.errors, outcome.slowest_submit = errors, slowest
        outcome.note = f"down {down:.0f} s"
        return self.settle(outcome, fixture, fault)

    def frozen(self) -> Outcome:
        fixture = self.fresh_school()
        self.start_beat()
        self.start_worker()
        time.sleep(5)
        count = min(self.args.students, self.args.frozen_students)
        fault = time.monotonic()
        self.redis.signal(signal.SIGSTOP)
        try:
            errors, slowest = self.students(fixture, count)
        finally:
            frozen_for = time.monotonic() - fault
            self.redis.signal(signal.SIGCONT)
        outcome = Outcome("Redis frozen (SIGSTOP) while students confirm, SIGCONT", count)
        outcome.errors, outcome.slowest_submit = errors, slowest
        outcome.note = f"frozen {frozen_for:.0f} s"
        return self.settle(outcome, fixture, fault)


def terminate_sessions() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def signature_data_url() -> str:
    import base64
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (600, 180), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    for offset in range(0, 400, 8):
        draw.line((40 + offset, 60, 80 + offset, 130), fill=(0, 0, 0, 255), width=6)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def connection_reuse(rounds: int = 2000) -> tuple[float, float]:
    """Microseconds per task of the database work a task starts with: reusing the connection
    (with the `SELECT 1` check config.celery adds before each task) against a new connection
    per task (Celery's default without CELERY_DB_REUSE_MAX)."""
    from django.db import connection

    def one_query() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    connection.close()
    started = time.perf_counter()
    for _ in range(rounds):
        one_query()
        connection.close()
    fresh = (time.perf_counter() - started) / rounds * 1e6
    started = time.perf_counter()
    for _ in range(rounds):
        assert connection.connection is None or connection.is_usable()
        one_query()
    reused = (time.perf_counter() - started) / rounds * 1e6
    return fresh, reused


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--students", type=int, default=2000)
    parser.add_argument("--web-students", type=int, default=100, help="confirming while down")
    parser.add_argument("--frozen-students", type=int, default=20, help="confirming while frozen")
    parser.add_argument("--pool", default="solo", choices=["solo", "prefork"])
    parser.add_argument(
        "--only", default=",".join(FAULTS), help=f"comma-separated: {', '.join(FAULTS)}, none"
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait per fault")
    args = parser.parse_args(argv)
    faults = [name for name in args.only.split(",") if name]
    unknown = set(faults) - {*FAULTS, BASELINE}
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")

    redis = Redis()
    prefix = f"bench-faults-{uuid.uuid4().hex[:8]}-"
    os.environ.setdefault("SECRET_KEY", "bench-faults-" + uuid.uuid4().hex + uuid.uuid4().hex)
    os.environ.update(
        REDIS_URL=redis.url,
        CELERY_QUEUE_PREFIX=prefix,
        CELERY_TASK_ALWAYS_EAGER="false",
        SMS_SENDER="confirmations.sms.MemorySender",
        ALLOWED_HOSTS="testserver",
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
    )
    ensure_postgres_database(args.database_url)
    setup_django(args.database_url, debug=False)
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)  # the pages, as in production

    redis.start()
    bench = Bench(args, redis, prefix)
    outcomes = []
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # the finally below stops what was started
    try:
        fresh, reused = connection_reuse()
        print(f"connection per task: {fresh:.0f} µs; reused with a check: {reused:.0f} µs")
        for name in faults:
            print(f"--- {name}", flush=True)
            outcome = getattr(bench, name)()
            bench.stop_all()
            outcomes.append(outcome)
            print(outcome.row(), flush=True)
    finally:
        bench.stop_all()
        redis.stop()
    print()
    print(f"{args.students:,} students, pool={args.pool}")
    print(f"connection per task: {fresh:.0f} µs; reused with a check: {reused:.0f} µs")
    print(HEADER)
    for outcome in outcomes:
        print(outcome.row())
    failed = [o for o in outcomes if o.lost or o.duplicated or o.errors]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
