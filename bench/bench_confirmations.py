"""Benchmark of the confirmation pipeline (batch confirmation → queued tasks → accounts).

Run from the project root (PostgreSQL and Redis must be running):

    .venv/bin/python bench/bench_confirmations.py [--students 5000] [--record]
    .venv/bin/python bench/bench_confirmations.py --profile   # cProfile of step A, top 25

Target: the city promises that an account is created within 30 minutes of the confirmation
(`PolicyYear.promised_minutes`). The bench checks it for N freshmen confirmed in one batch by a
filer of school 1012, and projects it to 50,000 confirmations.

Steps, each timed with `time.perf_counter`:

    A  `staff.batch_confirmation_run` for all N records in this process, with the Celery producer
       on Redis and a private queue, and no worker running: N applications written and N
       `create_account` messages queued (submission only)
    B  one real worker subprocess (`celery -A config worker --pool=solo -Q <queue>`, the
       production command) started against the same database: time from its start until no
       application of the batch is pending (the database is polled every 0.5 s)
    C  (skip with --skip-prefork) the same on a fresh set of confirmations, A again and then
       one worker with `--pool=prefork --concurrency=2`

Throughput is also taken from the database's own timestamps (`submitted_at`, `processed_at`),
so worker start-up and the polling interval do not blur it, and the first and last 10% of the
records are compared to show whether the per-record cost grows as the tables fill.

Every step's counts are asserted (applications pending, messages on the Redis list, accounts
created, the queue empty afterwards), so the bench cannot report a fast wrong answer. The worker
always runs in a try/finally that stops it, and the private queue's keys are deleted from Redis
at the end. The script writes only to the benchmark database (default `portal_bench`, created
if missing), to a private Redis queue, and with --record to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Shared helpers of the roster benchmark (bench/ is not a package).
from bench_import import (
    ensure_postgres_database,
    machine_info,
    redact,
    setup_django,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/portal_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SCHOOL_CODE = "1012"
CAMPUS_CODES = ("101200", "101201")
FILER_USERNAME = "bench_filer1012"
PREMIUM = Decimal("355")
PROJECTED = 50_000
POLL_SECONDS = 0.5
PRIORITY_SEPARATOR = "\x06\x16"  # kombu's Redis transport: <queue>\x06\x16<priority>
PRIORITY_STEPS = (3, 6, 9)  # priority 0 is the bare queue name


# --- fixtures ----------------------------------------------------------------------------------


@dataclass
class Fixture:
    school: object
    filer: object
    policy_year: object
    year: int


def make_fixture(year: int) -> Fixture:
    from django.db import transaction

    from confirmations.models import PolicyYear
    from schools.models import Campus, District, FilerDesignation, School, User

    with transaction.atomic():
        district, _ = District.objects.get_or_create(name="闵行区")
        school, _ = School.objects.update_or_create(
            code=SCHOOL_CODE,
            defaults={"name": "上海某某大学（基准测试）", "status": School.Status.ACTIVE},
        )
        campuses = {}
        for code, name in zip(CAMPUS_CODES, ("闵行校区（总校）", "徐汇校区"), strict=True):
            campuses[code], _ = Campus.objects.update_or_create(
                code=code, defaults={"school": school, "name": name, "district": district}
            )
        filer, _ = User.objects.update_or_create(
            username=FILER_USERNAME,
            defaults={"role": User.Role.SCHOOL_FILER, "is_active": True, "district": None},
        )
        # The filer of the main campus files for the branch too (it has no filer of its own).
        FilerDesignation.objects.filter(campus__school=school).exclude(
            user=filer, campus=campuses[CAMPUS_CODES[0]]
        ).delete()
        FilerDesignation.objects.get_or_create(user=filer, campus=campuses[CAMPUS_CODES[0]])
        policy_year, _ = PolicyYear.objects.update_or_create(
            enrollment_year=year,
            defaults={"closing_date": dt.date(year + 1, 12, 31), "premium": PREMIUM},
        )
    assert policy_year.is_open(), "the policy year must be open for confirmations"
    return Fixture(school=school, filer=filer, policy_year=policy_year, year=year)


def clear_confirmations(fixture: Fixture) -> None:
    """Remove the school's applications, accounts and batches (and coverage entries)."""
    from django.db import transaction

    from confirmations.models import (
        Application,
        BatchConfirmation,
        CoverageRecord,
        InsuranceAccount,
        SignedPledge,
    )
    from enrollment.models import StudentRecord

    id_numbers = StudentRecord.objects.filter(school=fixture.school).values("id_number")
    applications = Application.objects.filter(record__school=fixture.school)
    with transaction.atomic():
        InsuranceAccount.objects.filter(application__in=applications).delete()
        InsuranceAccount.objects.filter(id_number__in=id_numbers).delete()
        SignedPledge.objects.filter(application__in=applications).delete()
        applications.delete()
        BatchConfirmation.objects.filter(created_by=fixture.filer).delete()
        # The built-in gateway consults the coverage registry: keep every student a plain case.
        CoverageRecord.objects.filter(id_number__in=id_numbers).delete()


def clear_school(fixture: Fixture) -> None:
    from enrollment.models import StudentRecord

    clear_confirmations(fixture)
    StudentRecord.objects.filter(school=fixture.school).delete()


def store_roster(fixture: Fixture, count: int) -> float:
    """Store `count` freshmen through the roster pipeline; returns the seconds it took."""
    from enrollment import importer
    from enrollment.demo import demo_rows, roster_workbook
    from enrollment.models import StudentRecord

    started = time.perf_counter()
    rows = demo_rows(count, school_code=SCHOOL_CODE, campus_codes=CAMPUS_CODES, year=fixture.year)
    result = importer.roster_import(
        content=roster_workbook(rows),
        school=fixture.school,
        year=fixture.year,
        user=fixture.filer,
        commit=True,
    )
    assert result.errors == [], f"unexpected roster errors: {result.errors[:3]}"
    assert (result.inserted, result.committed) == (count, True), result.as_dict()
    stored = StudentRecord.objects.filter(school=fixture.school, enrollment_year=fixture.year)
    assert stored.count() == count, f"{stored.count()} records stored, expected {count}"
    assert stored.filter(willingness="1").count() == count
    return time.perf_counter() - started


# --- the broker --------------------------------------------------------------------------------


class Broker:
    """The private queue on Redis: its length, and removing every key it left behind."""

    def __init__(self, redis_url: str, queue: str) -> None:
        import redis

        self.client = redis.Redis.from_url(redis_url)
        self.queue = queue
        self.lists = [queue] + [f"{queue}{PRIORITY_SEPARATOR}{p}" for p in PRIORITY_STEPS]

    def length(self) -> int:
        return sum(self.client.llen(name) for name in self.lists)

    def server_version(self) -> str:
        return str(self.client.info("server").get("redis_version", "?"))

    def delete_queue(self) -> list[str]:
        """Delete the queue's lists and bindings, and unacked messages routed to it."""
        removed_unacked = 0
        for tag, raw in self.client.hscan_iter("unacked"):
            try:
                _, exchange, routing_key = json.loads(raw)
            except (ValueError, TypeError):
                continue
            if self.queue in (exchange, routing_key):
                self.client.hdel("unacked", tag)
                self.client.zrem("unacked_index", tag)
                removed_unacked += 1
        self.client.zrem("_kombu.binding_deadlines", self.queue)
        self.client.delete(
            *self.lists,
            f"_kombu.binding.{self.queue}",
            f"_kombu.binding_permanent.{self.queue}",
        )
        left = [key.decode() for key in self.client.scan_iter(match=f"*{self.queue}*")]
        if removed_unacked:
            print(f"removed {removed_unacked} unacked messages of {self.queue}")
        return left


# --- the worker --------------------------------------------------------------------------------


class Worker:
    """One `celery worker` subprocess on the private queue; its output goes to a temp file."""

    def __init__(
        self,
        *,
        pool: str,
        concurrency: int,
        database_url: str,
        redis_url: str,
        queue: str,
        loglevel: str,
    ) -> None:
        self.pool = pool
        self.concurrency = concurrency
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115  (closed in stop())
            mode="w+", prefix="bench-worker-", suffix=".log", delete=False
        )
        env = dict(
            os.environ,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            CELERY_QUEUE_PREFIX=os.environ["CELERY_QUEUE_PREFIX"],  # set by main()
            DJANGO_DEBUG="false",
            LOG_LEVEL=loglevel,
        )
        env.setdefault("SECRET_KEY", "bench-only-not-a-secret")
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker", f"--pool={pool}",
            "-Q", queue, "--without-heartbeat", "--without-mingle", "--without-gossip",
            f"--loglevel={loglevel}", f"--hostname=bench-{queue}@%h",
        ]  # fmt: skip
        if pool != "solo":
            command.append(f"--concurrency={concurrency}")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, so its children can be stopped too
        )

    @property
    def label(self) -> str:
        if self.pool == "solo":
            return "1 worker `--pool=solo`"
        return f"1 worker `--pool={self.pool} --concurrency={self.concurrency}`"

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self, tail: int = 4000) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(encoding="utf-8", errors="replace")[-tail:]

    def stop(self) -> str:
        """Warm shutdown (SIGTERM), then SIGKILL to its process group if it does not exit."""
        pid = self.process.pid
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Prefork children left behind by a crashed parent share the group id of our worker.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        output = self.output(tail=1_000_000)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
        return output


# --- the steps ---------------------------------------------------------------------------------


@dataclass
class Submission:
    batch_id: str
    seconds: float
    create_seconds: float
    queued: int
    submitted_at: list[dt.datetime] = field(default_factory=list)
    profiled: bool = False
    db_sessions: int | None = None  # PostgreSQL sessions opened during the step

    def ms_per_record(self) -> float:
        return self.seconds * 1000 / len(self.submitted_at)


@dataclass
class Creation:
    label: str
    wall_seconds: float
    processed_at: list[dt.datetime] = field(default_factory=list)
    db_sessions: int | None = None  # PostgreSQL sessions opened while the worker ran

    @property
    def steady_seconds(self) -> float:
        return (self.processed_at[-1] - self.processed_at[0]).total_seconds()

    @property
    def rate(self) -> float:
        """Accounts per second between the first and the last account (start-up excluded)."""
        return (len(self.processed_at) - 1) / max(self.steady_seconds, 1e-9)


def submit(
    fixture: Fixture, broker: Broker, count: int, *, profile: bool = False, profile_top: int = 25
) -> Submission:
    """Step A: the filer's batch confirmation, with the batch run here instead of in a worker."""
    from confirmations.models import Application, BatchConfirmation
    from desk import services as staff
    from enrollment.models import StudentRecord

    assert broker.length() == 0, f"queue {broker.queue} is not empty before step A"
    assert not Application.objects.filter(record__school=fixture.school).exists()
    record_ids = list(
        StudentRecord.objects.filter(school=fixture.school, enrollment_year=fixture.year)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert len(record_ids) == count
    # What the desk's "select all matching → confirm" does; the batch task it would queue is
    # replaced by running `batch_confirmation_run` here, so only `create_account` is queued.
    started = time.perf_counter()
    with mock.patch.object(staff, "enqueue_on_commit") as queued_batch:
        batch = staff.batch_confirmation_create(
            user=fixture.filer,
            policy_year=fixture.policy_year,
            record_ids=record_ids,
            attested=True,
            source="bench_confirmations",
        )
    create_seconds = time.perf_counter() - started
    queued_batch.assert_called_once_with(staff.RUN_BATCH, str(batch.pk))
    assert batch.total == count, f"{batch.total} records in scope of the filer, expected {count}"

    sessions_before = db_sessions()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    started = time.perf_counter()
    while staff.batch_confirmation_run(batch_id=batch.pk):  # chunk after chunk
        pass
    seconds = time.perf_counter() - started
    if profiler:
        profiler.disable()
        print_profile(
            profiler, f"step A, {count:,} records: {seconds:.2f} s under the profiler", profile_top
        )

    batch.refresh_from_db()
    assert batch.state == BatchConfirmation.State.DONE, batch.state
    assert batch.results["confirmed"] == count, {k: v for k, v in batch.results.items() if v}
    for key in ("already_pending", "already_created", "refused"):
        assert batch.results[key] == [], (key, batch.results[key][:3])
    applications = Application.objects.filter(batch=batch)
    assert applications.count() == count
    pending = applications.filter(
        state=Application.State.PENDING, channel=Application.Channel.ON_BEHALF
    ).count()
    assert pending == count, f"{pending} applications pending, expected {count}"
    queued = broker.length()
    assert queued == count, f"{queued} messages on {broker.queue}, expected {count}"
    submitted_at = sorted(applications.values_list("submitted_at", flat=True))
    return Submission(
        batch_id=str(batch.pk),
        seconds=seconds,
        create_seconds=create_seconds,
        queued=queued,
        submitted_at=submitted_at,
        profiled=profile,
        db_sessions=sessions_delta(sessions_before),
    )


def create_accounts(
    worker_args: dict, submission: Submission, broker: Broker, count: int, timeout: float
) -> Creation:
    """Step B / C: start a worker and wait until no application of the batch is pending."""
    from confirmations.models import Application, InsuranceAccount

    applications = Application.objects.filter(batch_id=submission.batch_id)
    pending = applications.filter(state=Application.State.PENDING)
    sessions_before = db_sessions()
    worker = Worker(**worker_args)
    print(f"  {worker.label} started (pid {worker.process.pid}) …", flush=True)
    output = ""
    try:
        deadline = worker.started + timeout
        last_report = time.perf_counter()
        while True:
            left = pending.count()
            now = time.perf_counter()
            if left == 0:
                wall = now - worker.started
                break
            if not worker.alive():
                raise AssertionError(
                    f"the worker exited ({worker.process.returncode}) with {left} pending:\n"
                    + worker.output()
                )
            if now > deadline:
                raise AssertionError(
                    f"{left} applications still pending after {timeout:.0f} s:\n" + worker.output()
                )
            if now - last_report >= 15:
                print(f"    {count - left:,} / {count:,} done after {now - worker.started:.0f} s")
                last_report = now
            time.sleep(POLL_SECONDS)
        # Give the worker a moment to ack its last message before it is asked to stop.
        time.sleep(1.0)
    finally:
        output = worker.stop()
    created = applications.filter(state=Application.State.CREATED).count()
    assert created == count, f"{created} applications created, expected {count}:\n{output[-3000:]}"
    accounts = InsuranceAccount.objects.filter(application__batch_id=submission.batch_id).count()
    assert accounts == count, f"{accounts} accounts, expected {count}"
    assert applications.filter(attempts=1).count() == count, "an application was processed twice"
    assert broker.length() == 0, f"{broker.length()} messages left on {broker.queue}"
    errors = len(re.findall(r"Traceback|\] ERROR/|CRITICAL", output))
    assert errors == 0, f"the worker logged {errors} errors:\n{output[-3000:]}"
    processed_at = sorted(applications.values_list("processed_at", flat=True))
    return Creation(
        label=worker.label,
        wall_seconds=wall,
        processed_at=processed_at,
        db_sessions=sessions_delta(sessions_before),
    )


def db_sessions() -> int | None:
    """Sessions opened on this database so far (`pg_stat_database.sessions`, PostgreSQL 14+)."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            )
            row = cursor.fetchone()
    except DatabaseError:
        return None
    return row[0] if row else None


def sessions_delta(before: int | None) -> int | None:
    # A backend reports its session when it exits or within a second; let the counts settle.
    time.sleep(1.5)
    after = db_sessions()
    return None if before is None or after is None else after - before


def print_profile(profiler: cProfile.Profile, title: str, top: int) -> None:
    print(f"\n=== cProfile: {title} ===")
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(key).print_stats(top)
        print(f"--- by {key} ---")
        print(out.getvalue())


# --- reporting ---------------------------------------------------------------------------------


def edge_ms(stamps: list[dt.datetime]) -> tuple[float, float]:
    """Milliseconds per record over the first and the last 10% of the timestamps."""
    k = max(len(stamps) // 10, 2)

    def per(part: list[dt.datetime]) -> float:
        return (part[-1] - part[0]).total_seconds() * 1000 / (len(part) - 1)

    return per(stamps[:k]), per(stamps[-k:])


def minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 100 else f"{seconds / 60:.1f} min"


@dataclass
class Scenario:
    label: str
    submission: Submission
    creation: Creation | None  # None: not measured
    rate: float  # accounts per second

    @property
    def per_record(self) -> float:
        return self.submission.seconds / len(self.submission.submitted_at)

    @property
    def measured_seconds(self) -> float:
        assert self.creation is not None
        return self.submission.seconds + self.creation.wall_seconds

    def projected(self, count: int) -> float:
        return self.per_record * count + count / self.rate


@dataclass
class Report:
    count: int
    roster_seconds: float
    a: Submission
    b: Creation
    a2: Submission | None
    c: Creation | None
    promised_minutes: int
    info: dict
    versions: dict
    database_url: str
    redis_url: str
    loglevel: str

    def scenarios(self) -> list[Scenario]:
        """One worker (A + B), and two processes (C, or B's rate doubled when C was skipped)."""
        rows = [Scenario(self.b.label, self.a, self.b, self.b.rate)]
        if self.c is not None and self.a2 is not None:
            rows.append(Scenario(self.c.label, self.a2, self.c, self.c.rate))
        else:
            rows.append(
                Scenario(
                    "2 workers (assumed 2× step B, not measured)", self.a, None, 2 * self.b.rate
                )
            )
        return rows

    def verdict(self, seconds: float) -> str:
        return "met" if seconds <= self.promised_minutes * 60 else "NOT met"


def step_table(report: Report) -> list[str]:
    n = report.count
    lines = [
        "| step | seconds | ms per record | per second | first / last 10%, ms per record "
        "| DB connections opened |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def sessions(count: int | None) -> str:
        return "?" if count is None else f"{count:,}"

    def submission_row(label: str, s: Submission) -> str:
        first, last = edge_ms(s.submitted_at)
        seconds = f"{s.seconds:.2f}" + (" (profiled)" if s.profiled else "")
        return (
            f"| {label} | {seconds} | {s.ms_per_record():.2f} | {n / s.seconds:,.0f} | "
            f"{first:.2f} / {last:.2f} | {sessions(s.db_sessions)} |"
        )

    def creation_row(label: str, c: Creation) -> str:
        first, last = edge_ms(c.processed_at)
        return (
            f"| {label} | {c.wall_seconds:.1f} (steady {c.steady_seconds:.1f}) | "
            f"{1000 / c.rate:.2f} | {c.rate:,.0f} | {first:.2f} / {last:.2f} | "
            f"{sessions(c.db_sessions)} |"
        )

    lines.append(
        submission_row(f"A. submit: `batch_confirmation_run`, {n:,} records, no worker", report.a)
    )
    lines.append(creation_row(f"B. accounts: {report.b.label}", report.b))
    if report.a2 is not None and report.c is not None:
        lines.append(submission_row("C. submit again (fresh confirmations)", report.a2))
        lines.append(creation_row(f"C. accounts: {report.c.label}", report.c))
    return lines


def projection_table(report: Report) -> list[str]:
    n = report.count
    lines = [
        f"| workers | {n:,} measured: submit + accounts | {PROJECTED:,}: submit | "
        f"{PROJECTED:,}: accounts | {PROJECTED:,}: total | {report.promised_minutes} min |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in report.scenarios():
        total_p = row.projected(PROJECTED)
        measured = minutes(row.measured_seconds) if row.creation else "—"
        lines.append(
            f"| {row.label} | {measured} | {minutes(row.per_record * PROJECTED)} | "
            f"{minutes(PROJECTED / row.rate)} | {minutes(total_p)} | {report.verdict(total_p)} |"
        )
    return lines


def verdict_line(report: Report) -> str:
    n = report.count
    rows = report.scenarios()
    first = rows[0]
    parts = [
        f"{n:,} confirmations in one batch: submission {report.a.seconds:.0f} s + accounts "
        f"{report.b.wall_seconds:.0f} s with one worker (start-up included) = "
        f"{minutes(first.measured_seconds)} from the filer's click to the last account — "
        f"{report.verdict(first.measured_seconds)}"
    ]
    for row in rows:
        total_p = row.projected(PROJECTED)
        how = "projected" if row.creation else "guessed"
        parts.append(
            f"{PROJECTED:,} {how} with {row.label}: {minutes(total_p)} — {report.verdict(total_p)}"
        )
    return "; ".join(parts) + "."


def print_report(report: Report) -> None:
    info, v = report.info, report.versions
    print()
    print(
        f"machine: nproc={info['nproc']} ({info['cpu']}, {info['memory']}); "
        f"Python {info['python']}; Django {info['django']}; Celery {v['celery']}; "
        f"{info['db']}; Redis {v['redis_server']}"
    )
    print(
        f"{report.count:,} freshmen stored in {report.roster_seconds:.1f} s (not measured); "
        f"batch_confirmation_create {report.a.create_seconds:.2f} s"
    )
    print()
    for line in step_table(report):
        print(line)
    print()
    for line in projection_table(report):
        print(line)
    print()
    print(f"promise ({report.promised_minutes} min): {verdict_line(report)}")


def record(report: Report) -> None:
    info, v, n = report.info, report.versions, report.count
    marker = f"bench_confirmations:{info['vendor']}:{n}"
    section = [
        f"<!-- {marker} -->",
        f"## confirmation pipeline, {n:,} freshmen, {info['db']} + Redis {v['redis_server']}",
        "",
        f"- date: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"- machine: `nproc` = {info['nproc']}, {info['cpu']}, {info['memory']}; the workers, "
        "PostgreSQL, Redis and the bench share it",
        f"- Python {info['python']}, Django {info['django']}, Celery {v['celery']}, "
        f"kombu {v['kombu']}, redis-py {v['redis_py']}",
        f"- DB: {info['db']} (`{redact(report.database_url)}`), DEBUG off; broker: Redis "
        f"{v['redis_server']} (`{redact(report.redis_url)}`), a private queue per run; worker "
        f"log level {report.loglevel}; account gateway `{v['gateway']}`",
        f"- {n:,} freshmen of school 1012 (campuses 101200, 101201) stored through "
        f"`roster_import` in {report.roster_seconds:.1f} s, confirmed in one batch by a filer "
        f"designated for 101200 (`batch_confirmation_create` {report.a.create_seconds:.2f} s)",
        "- command: `.venv/bin/python bench/bench_confirmations.py --record`",
        "",
        *step_table(report),
        "",
        "A runs `batch_confirmation_run` in the bench process with no worker: N applications "
        "(one transaction each) and N `create_account` messages on the Redis list, both counted. "
        "B/C time a real `celery worker` subprocess from its start until no application is "
        "pending (polled every 0.5 s; includes worker start-up); *steady* and the rates are "
        "first → last `processed_at`. The last column compares the first and the last 10% of "
        "the records (from `submitted_at` / `processed_at`) to show whether the cost per record "
        "grows as the tables fill. *DB connections opened* is the growth of "
        "`pg_stat_database.sessions` during the step (the bench's own connection stays open).",
        "",
        f"Projection to {PROJECTED:,} confirmations (linear in the measured rates; submission "
        "and account creation added, as when one batch is followed by its accounts in the same "
        "queue):",
        "",
        *projection_table(report),
        "",
        f"**{report.promised_minutes}-minute promise:** {verdict_line(report)}",
        f"<!-- /{marker} -->",
    ]
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    old_header = "Written by `bench/bench_import.py --record`;"
    new_header = (
        "Written by `bench/bench_import.py --record` and `bench/bench_confirmations.py --record`;"
    )
    if not text:
        text = (
            "# Benchmark results\n\n"
            f"{new_header} each section is rewritten by the next run with the same database "
            "engine and row count.\n"
        )
    elif old_header in text:
        text = text.replace(old_header, new_header, 1)
    block = "\n".join(section)
    pattern = re.compile(
        rf"<!-- {re.escape(marker)} -->.*?<!-- /{re.escape(marker)} -->", re.DOTALL
    )
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")
    print(f"\nrecorded in {RESULTS.relative_to(ROOT)}")


def versions(broker: Broker) -> dict[str, str]:
    import celery
    import kombu
    import redis
    from django.conf import settings

    return {
        "celery": celery.__version__,
        "kombu": kombu.__version__,
        "redis_py": redis.__version__,
        "redis_server": broker.server_version(),
        "gateway": settings.ACCOUNT_GATEWAY,
    }


# --- main --------------------------------------------------------------------------------------


def _sigterm_exits(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so that the finally blocks stop the worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--students", type=int, default=5_000)
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"PostgreSQL only; default: {DEFAULT_DATABASE_URL} (created when missing)",
    )
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS_URL, help=f"default: {DEFAULT_REDIS_URL}"
    )
    parser.add_argument("--record", action="store_true", help="write a section of bench/RESULTS.md")
    parser.add_argument(
        "--skip-prefork", action="store_true", help="skip step C (prefork, concurrency 2)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run step A under cProfile and print the top functions (not with --record)",
    )
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument(
        "--worker-loglevel", default="INFO", help="the worker's --loglevel (production: INFO)"
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds to wait for the accounts (per step)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the applications and accounts in the database"
    )
    args = parser.parse_args(argv)
    if args.record and args.profile:
        parser.error("--record measures unprofiled runs; drop --profile")
    if args.students < 20:
        parser.error("--students must be at least 20")
    if urlsplit(args.database_url).scheme not in {"postgres", "postgresql", "pgsql"}:
        parser.error("the worker is another process: --database-url must be PostgreSQL")
    if urlsplit(args.redis_url).scheme not in {"redis", "rediss"}:
        parser.error("--redis-url must be a redis:// URL")

    signal.signal(signal.SIGTERM, _sigterm_exits)
    # Private queues (settings.QUEUES behind a prefix); account creation goes to `accounts`.
    prefix = f"bench-confirm-{uuid.uuid4().hex[:8]}-"
    queue = f"{prefix}accounts"
    # The producer in this process must publish to Redis, on the private queue, for real.
    os.environ["REDIS_URL"] = args.redis_url
    os.environ["CELERY_QUEUE_PREFIX"] = prefix
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    ensure_postgres_database(args.database_url)
    setup_django(args.database_url, debug=False)

    from django.utils import timezone

    from config.celery import app as celery_app

    assert celery_app.conf.broker_url == args.redis_url, celery_app.conf.broker_url
    from config.queueing import route_task

    assert route_task("confirmations.tasks.create_account", (), {}, {})["queue"] == queue
    assert not celery_app.conf.task_always_eager

    broker = Broker(args.redis_url, queue)
    year = timezone.localdate().year
    n = args.students
    worker_common = {
        "database_url": args.database_url,
        "redis_url": args.redis_url,
        "queue": queue,
        "loglevel": args.worker_loglevel,
    }
    fixture = make_fixture(year)
    try:
        clear_school(fixture)
        print(f"storing {n:,} freshmen of school {SCHOOL_CODE} …", flush=True)
        roster_seconds = store_roster(fixture, n)

        print(f"A. batch submission of {n:,} records, no worker (queue {queue}) …", flush=True)
        a = submit(fixture, broker, n, profile=args.profile, profile_top=args.profile_top)
        print(f"   {a.seconds:.2f} s, {a.ms_per_record():.2f} ms per record, {a.queued:,} queued")

        print("B. account creation …", flush=True)
        b = create_accounts(
            {**worker_common, "pool": "solo", "concurrency": 1}, a, broker, n, args.timeout
        )
        print(f"   {b.wall_seconds:.1f} s, {b.rate:.0f} accounts/s", flush=True)

        a2 = c = None
        if not args.skip_prefork:
            clear_confirmations(fixture)
            print("C. fresh confirmations: submission again …", flush=True)
            a2 = submit(fixture, broker, n)
            print(f"   {a2.seconds:.2f} s; account creation, prefork concurrency 2 …", flush=True)
            c = create_accounts(
                {**worker_common, "pool": "prefork", "concurrency": 2}, a2, broker, n, args.timeout
            )
            print(f"   {c.wall_seconds:.1f} s, {c.rate:.0f} accounts/s", flush=True)

        report = Report(
            count=n,
            roster_seconds=roster_seconds,
            a=a,
            b=b,
            a2=a2,
            c=c,
            promised_minutes=fixture.policy_year.promised_minutes,
            info=machine_info(),
            versions=versions(broker),
            database_url=args.database_url,
            redis_url=args.redis_url,
            loglevel=args.worker_loglevel,
        )
    finally:
        # Cleaning up must not hide the error that got us here; it reports its own.
        try:
            left = broker.delete_queue()
            if left:
                print(f"WARNING: Redis keys of {queue} left: {left}", file=sys.stderr)
        except Exception as exc:
            print(f"WARNING: could not delete queue {queue}: {exc!r}", file=sys.stderr)
        if not args.keep:
            # bench_import deletes the school's records; applications would protect them.
            try:
                clear_school(fixture)
            except Exception as exc:
                print(f"WARNING: could not clear school {SCHOOL_CODE}: {exc!r}", file=sys.stderr)

    print_report(report)
    if args.record:
        record(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
