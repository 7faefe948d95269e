"""Benchmark of the roster pipeline (`enrollment.importer.roster_import`) on a 50,000-row roster.

Run from the project root:

    .venv/bin/python bench/bench_import.py [--rows 50000] [--database-url URL] [--record]
    .venv/bin/python bench/bench_import.py --profile 2 --profile 4   # cProfile, top 25 by cumtime
    .venv/bin/python bench/bench_import.py --sizes 50000,100000,200000 --record   # linearity

With --sizes, only the floor and `import_roster --commit` are measured, at each size in every
round (sizes interleaved, so that the load of the shared machine falls on all alike): the ratio to
the floor, seconds per 1,000 rows (and the marginal cost between sizes: linearity), the peak of
the command's and its reader child's resident memory added together (sampled), and the rows an
unchanged re-upload writes. Past the upload's 100,000 rows the command runs with --max-rows.

Target: 50,000 rows validated and committed on PostgreSQL in well under 10 s (the preview check
plus the commit, steps 1 + 2 below).

Steps, each timed with `time.perf_counter` and its peak resident set size (the kernel's high-water
mark, reset before every step through /proc/self/clear_refs):

    read  `importer.read_roster(content)` alone: the .xlsx parse, to split reading from checking
    1     check only (commit=False) against an empty roster
    2     first commit (commit=True): 50,000 new rows
    3     re-upload of the same file (commit=True): every row unchanged
    4     re-upload with 10% of rows changed (专业, 联系电话) (commit=True): 5,000 updates

Every step's counts, and the stored rows, are asserted, so the bench cannot report a fast wrong
answer. A second pass under `tracemalloc` (skip with --no-tracemalloc) reports the peak of Python
allocations per step; its timings are not reported (tracing slows Python down several times).

The script writes only to the benchmark database (default `portal_bench`, created if missing) and,
with --record, to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import os
import platform
import pstats
import re
import resource
import secrets
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/portal_bench"
SCHOOL_CODE = "1012"
CAMPUS_CODES = ("101200", "101201")
BENCH_USERNAME = "bench_cityadmin"
CHANGED_MAJOR = "数据科学与大数据技术"  # not one of demo.COLLEGES' majors, so always a change
TARGET_SECONDS = 10.0

STEPS = {
    "read": "read only (`read_roster`)",
    "1": "1. check only, empty roster (commit=False)",
    "2": "2. first commit, all new (commit=True)",
    "3": "3. re-upload, all unchanged (commit=True)",
    "4": "4. re-upload, 10% changed (commit=True)",
}


# --- database and Django -------------------------------------------------------------------------


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def ensure_postgres_database(url: str) -> None:
    """Create the database named in a postgres:// URL when it does not exist yet."""
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise SystemExit(f"DATABASE_URL names no database: {redact(url)}")
    connection = psycopg2.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname="postgres",
    )
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(f"created database {name}")
    finally:
        connection.close()


def setup_django(database_url: str, *, debug: bool) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    # Production runs with DEBUG off; with it on, Django keeps the SQL of every query in memory.
    os.environ["DJANGO_DEBUG"] = "true" if debug else "false"
    # A throw-away key per run: the settings refuse weak keys when DEBUG is off.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


@dataclass
class Fixture:
    school: object
    user: object
    year: int


def make_fixture(year: int) -> Fixture:
    from django.db import transaction

    from enrollment.models import StudentRecord
    from schools.models import Campus, District, School, User

    with transaction.atomic():
        district, _ = District.objects.get_or_create(name="闵行区")
        school, _ = School.objects.update_or_create(
            code=SCHOOL_CODE,
            defaults={"name": "上海某某大学（基准测试）", "status": School.Status.ACTIVE},
        )
        for code, name in zip(CAMPUS_CODES, ("闵行校区（总校）", "徐汇校区"), strict=True):
            Campus.objects.update_or_create(
                code=code, defaults={"school": school, "name": name, "district": district}
            )
        user, _ = User.objects.update_or_create(
            username=BENCH_USERNAME,
            defaults={"role": User.Role.CITY_ADMIN, "is_active": True, "district": None},
        )
    clear_records(school)
    assert not StudentRecord.objects.filter(school=school).exists()
    return Fixture(school=school, user=user, year=year)


def clear_records(school) -> None:
    from enrollment.models import StudentRecord

    StudentRecord.objects.filter(school=school).delete()


# --- the rosters -------------------------------------------------------------------------------


@dataclass
class Rosters:
    rows: int
    content: bytes
    changed_content: bytes
    changed_rows: int
    generate_seconds: float


def make_rosters(count: int, year: int, *, changed_too: bool = True) -> Rosters:
    from enrollment.demo import demo_rows, roster_workbook

    started = time.perf_counter()
    rows = demo_rows(count, school_code=SCHOOL_CODE, campus_codes=CAMPUS_CODES, year=year)
    content = roster_workbook(rows)
    if not changed_too:
        return Rosters(count, content, b"", 0, time.perf_counter() - started)
    changed = []
    changed_rows = 0
    for index, row in enumerate(rows):
        if index % 10 == 0:
            row = {**row, "专业": CHANGED_MAJOR, "联系电话": f"138{index + 10000000:08d}"}
            changed_rows += 1
        changed.append(row)
    changed_content = roster_workbook(changed)
    return Rosters(
        rows=count,
        content=content,
        changed_content=changed_content,
        changed_rows=changed_rows,
        generate_seconds=time.perf_counter() - started,
    )


# --- measuring ---------------------------------------------------------------------------------


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (VmHWM) of this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as handle:
            match = re.search(r"^VmHWM:\s+(\d+) kB", handle.read(), re.MULTILINE)
        if match:
            return int(match.group(1)) / 1024
    except OSError:
        pass
    # ru_maxrss is the peak of the whole process so far (KiB on Linux, bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class _GcTimer:
    """Total time spent in the cyclic garbage collector while active (via gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1

    def __enter__(self) -> _GcTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


@dataclass
class Measurement:
    step: str
    seconds: float = 0.0
    gc_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    per_step_rss: bool = True
    heap_peak_mb: float | None = None
    profiled: bool = False
    result: object = None


@dataclass
class Run:
    measurements: dict[str, Measurement] = field(default_factory=dict)


def measure(
    step: str,
    fn: Callable[[], object],
    *,
    trace: bool = False,
    profile: bool = False,
    profile_top: int = 25,
) -> Measurement:
    gc.collect()
    per_step = _reset_peak_rss()
    profiler = cProfile.Profile() if profile else None
    if trace:
        tracemalloc.start()
    with _GcTimer() as gc_timer:
        if profiler:
            profiler.enable()
        started = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - started
        if profiler:
            profiler.disable()
    heap_peak = None
    if trace:
        heap_peak = tracemalloc.get_traced_memory()[1] / (1024 * 1024)
        tracemalloc.stop()
    measurement = Measurement(
        step=step,
        seconds=seconds,
        gc_seconds=gc_timer.seconds,
        peak_rss_mb=_peak_rss_mb(),
        per_step_rss=per_step,
        heap_peak_mb=heap_peak,
        profiled=profile,
        result=result,
    )
    if profiler:
        print(f"\n=== cProfile: {STEPS[step]} — {seconds:.2f} s under the profiler ===")
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats("cumulative").print_stats(profile_top)
        print(out.getvalue())
    return measurement


def run_sequence(
    fixture: Fixture,
    rosters: Rosters,
    *,
    trace: bool = False,
    profile_steps: frozenset[str] = frozenset(),
    profile_top: int = 25,
) -> Run:
    from enrollment import importer, spreadsheets
    from enrollment.models import StudentRecord

    school, user, year = fixture.school, fixture.user, fixture.year
    n, changed = rosters.rows, rosters.changed_rows
    records = StudentRecord.objects.filter(school=school, enrollment_year=year)
    clear_records(school)
    run = Run()

    def step(name: str, fn: Callable[[], object]) -> object:
        measurement = measure(
            name, fn, trace=trace, profile=name in profile_steps, profile_top=profile_top
        )
        run.measurements[name] = measurement
        return measurement.result

    # Past the upload's row limit, the reader takes the operator's (as `--max-rows` does).
    limits = spreadsheets.operator_limits(n + 1) if command_max_rows(n) else None

    def upload(content: bytes, *, commit: bool) -> Callable[[], importer.RosterResult]:
        return lambda: importer.roster_import(
            content=content, school=school, year=year, user=user, commit=commit, limits=limits
        )

    sheet = step("read", lambda: importer.read_roster(rosters.content, limits=limits))
    assert sheet.row_count == n, f"read {sheet.row_count} rows, expected {n}"
    del sheet

    result = step("1", upload(rosters.content, commit=False))
    assert result.errors == [], f"unexpected errors: {result.errors[:3]}"
    assert (result.rows, result.valid) == (n, n), (result.rows, result.valid)
    assert (result.inserted, result.updated, result.unchanged) == (n, 0, 0), result.as_dict()
    assert not result.committed
    assert records.count() == 0, "a check-only run stored records"

    result = step("2", upload(rosters.content, commit=True))
    assert result.errors == [] and (result.rows, result.valid) == (n, n), result.as_dict()
    assert (result.inserted, result.updated, result.unchanged) == (n, 0, 0), result.as_dict()
    assert result.committed
    assert records.count() == n, f"{records.count()} records stored, expected {n}"

    result = step("3", upload(rosters.content, commit=True))
    assert result.errors == [] and (result.rows, result.valid) == (n, n), result.as_dict()
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, n), result.as_dict()
    assert result.committed
    assert records.count() == n

    result = step("4", upload(rosters.changed_content, commit=True))
    assert result.errors == [] and (result.rows, result.valid) == (n, n), result.as_dict()
    expected = (0, changed, n - changed)
    assert (result.inserted, result.updated, result.unchanged) == expected, result.as_dict()
    assert result.committed
    assert len(result.changes) == changed
    assert records.count() == n
    assert records.filter(major=CHANGED_MAJOR).count() == changed
    assert records.filter(phone__startswith="138").count() == changed
    first = records.get(student_number=f"{year}000001")
    assert (first.major, first.phone) == (CHANGED_MAJOR, "13810000000"), (first.major, first.phone)
    second = records.get(student_number=f"{year}000002")
    assert second.major != CHANGED_MAJOR and second.phone == "13910000001"
    return run


# --- the floor and the command ------------------------------------------------------------------
#
# The target: `import_roster --commit` (the whole command, Django's start included) of a
# valid roster within 3x the floor measured in the same run, where the floor is what no importer
# can avoid: python-calamine reading the file in this process (no inspection, no child) plus a
# PostgreSQL COPY of the same rows into the same table (same indexes), rolled back.

RATIO_TARGET = 3.0


@dataclass
class CommandRun:
    label: str
    seconds: float
    peak_mb: float  # the largest single process (the command or its reader), from wait4
    output: str
    writes: dict[str, int]
    tree_peak_mb: float = 0.0  # the command and its reader together, sampled


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024 if hasattr(os, "sysconf") else 4


def _descendants(pid: int) -> list[tuple[int, int]]:
    """(process, its parent) for every process below `pid` (through
    /proc/PID/task/TID/children), not `pid` itself."""
    found: list[tuple[int, int]] = []
    queue = [pid]
    while queue:
        parent = queue.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as handle:
                    children = [int(child) for child in handle.read().split()]
            except OSError:
                continue
            found.extend((child, parent) for child in children)
            queue.extend(children)
    return found


def _command_line(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _resident_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


class TreeMemory:
    """The peak of the resident memory of every process below a launcher, added together,
    sampled every `interval` seconds: the command and its reader child are alive at once
    (the command holds the file and the reader's output while the reader holds the sheet), so
    the largest single process understates what the import needs."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        import threading

        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            # A child forked but not yet exec'd shows its parent's pages: not counted twice.
            total = sum(
                _resident_kb(pid)
                for pid, parent in _descendants(self.pid)
                if _command_line(pid) != _command_line(parent)
            )
            self.peak_kb = max(self.peak_kb, total)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


def measure_floor(fixture: Fixture, rosters: Rosters) -> tuple[float, float, float]:
    """(read s, COPY s, load average) of the floor: calamine + COPY of the raw rows, rolled back."""
    import python_calamine
    from django.db import connection, transaction

    from enrollment import rules
    from enrollment.models import StudentRecord

    load = os.getloadavg()[0]
    started = time.perf_counter()
    workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(rosters.content))
    rows = workbook.get_sheet_by_index(0).to_python()[1:]
    read_seconds = time.perf_counter() - started
    assert len(rows) == rosters.rows, len(rows)

    campus_ids = dict(fixture.school.campuses.values_list("code", "pk"))
    campus_column = rules.HEADERS.index("总分校编码")
    meta = StudentRecord._meta
    attributes = [spec.attribute for spec in rules.FIELDS]
    columns = ["school", "campus", "enrollment_year", *attributes, "created_at", "updated_at"]
    column_list = ", ".join(meta.get_field(name).column for name in columns)
    stamp = dt.datetime.now(dt.UTC).isoformat()
    prefix = [str(fixture.school.pk), None, str(fixture.year)]
    started = time.perf_counter()
    buffer = io.StringIO()
    import csv

    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for row in rows:
        prefix[1] = campus_ids[row[campus_column]]
        writer.writerow([*prefix, *row, stamp, stamp])
    buffer.seek(0)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.copy_expert(
                f"COPY {meta.db_table} ({column_list}) FROM STDIN WITH (FORMAT csv)", buffer
            )
        transaction.set_rollback(True)
    copy_seconds = time.perf_counter() - started
    return read_seconds, copy_seconds, load


def _table_writes() -> dict[str, int]:
    """Rows inserted, updated and deleted in the records table so far (pg_stat_user_tables)."""
    from django.db import connection

    with connection.cursor() as cursor:
        # This process's own counts (the floor's rolled-back COPY, the clearing) are flushed at
        # a transaction's end when asked; the command's are flushed when it exits.
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT 1")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
            "WHERE relname = 'enrollment_studentrecord'"
        )
        inserted, updated, deleted = cursor.fetchone()
    return {"inserted": inserted, "updated": updated, "deleted": deleted}


def run_command(
    label: str,
    path: Path,
    *,
    year: int,
    database_url: str,
    max_rows: int | None = None,
    root: Path = ROOT,
) -> CommandRun:
    """`manage.py import_roster PATH --school 1012 --commit --json` in its own process: wall
    time, the peak RSS of its largest process (the command or its reader child, from wait4),
    the peak of both together (sampled) and the rows it wrote to the records table (the
    statistics are flushed when it exits)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable,
        "manage.py",
        "import_roster",
        str(path),
        "--school",
        SCHOOL_CODE,
        "--year",
        str(year),
        "--as-user",
        BENCH_USERNAME,
        "--commit",
        "--json",
        *(["--max-rows", str(max_rows)] if max_rows else []),
    ]
    before = _table_writes()
    started = time.perf_counter()
    # Through a small launcher: a process forked from this one (hundreds of MB by now) would
    # inherit our RSS high-water mark, and wait4 would report it as the command's.
    launcher = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, *command],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with TreeMemory(launcher.pid) as tree:
        stdout, stderr = launcher.communicate()
    seconds = time.perf_counter() - started
    output = stdout.decode()
    if launcher.returncode != 0:
        message = (output + stderr.decode())[-500:]
        raise SystemExit(f"import_roster failed ({launcher.returncode}): {message}")
    peak_kb = int(stderr.decode().strip().rsplit("maxrss=", 1)[1])
    after = _table_writes()
    writes = {key: after[key] - before[key] for key in after}
    return CommandRun(label, seconds, peak_kb / 1024, output, writes, tree.peak_mb)


_LAUNCHER = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:], stderr=subprocess.DEVNULL).returncode; "
    "sys.stderr.write(f'maxrss={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}'); "
    "sys.exit(code)"
)


@dataclass
class FloorRun:
    """Rounds of (floor, command all new, command unchanged), interleaved so that the load of
    the shared machine falls on both alike; the figures compared are each one's best."""

    reads: list[float] = field(default_factory=list)
    copies: list[float] = field(default_factory=list)
    firsts: list[CommandRun] = field(default_factory=list)
    unchanged: list[CommandRun] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    # The same command from another checkout (--before-root), in the same rounds.
    before_firsts: list[CommandRun] = field(default_factory=list)
    before_unchanged: list[CommandRun] = field(default_factory=list)

    @property
    def floors(self) -> list[float]:
        return [read + copy for read, copy in zip(self.reads, self.copies, strict=True)]

    @property
    def floor(self) -> float:
        return min(self.floors)

    @property
    def first(self) -> CommandRun:
        return min(self.firsts, key=lambda run: run.seconds)

    @property
    def ratio(self) -> float:
        return self.first.seconds / self.floor

    @property
    def peak_mb(self) -> float:
        return max(run.peak_mb for run in self.firsts + self.unchanged)

    @property
    def tree_peak_mb(self) -> float:
        return max(run.tree_peak_mb for run in self.firsts + self.unchanged)


def floor_and_command(
    fixture: Fixture, rosters: Rosters, database_url: str, *, rounds: int
) -> FloorRun:
    return floor_and_command_sizes(fixture, [rosters], database_url, rounds=rounds)[rosters.rows]


def command_max_rows(rows: int) -> int | None:
    """--max-rows for a roster of `rows` data rows and its header: only past the upload's."""
    from enrollment import spreadsheets

    return rows + 1 if rows + 1 > spreadsheets.MAX_ROWS else None


def floor_and_command_sizes(
    fixture: Fixture,
    rosters: list[Rosters],
    database_url: str,
    *,
    rounds: int,
    before_root: Path | None = None,
) -> dict[int, FloorRun]:
    """Per round, for each roster in turn: the floor, the command (all new), the command again
    (unchanged), and with `before_root` the same two from that checkout. Sizes interleaved
    within each round, so a busy minute falls on all of them."""
    import json
    import tempfile

    from enrollment.models import StudentRecord

    records = StudentRecord.objects.filter(school=fixture.school, enrollment_year=fixture.year)
    runs = {roster.rows: FloorRun() for roster in rosters}
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for roster in rosters:
            paths[roster.rows] = Path(folder) / f"roster-{roster.rows}.xlsx"
            paths[roster.rows].write_bytes(roster.content)
        for round_number in range(1, rounds + 1):
            for roster in rosters:
                run, path, n = runs[roster.rows], paths[roster.rows], roster.rows
                options = {
                    "year": fixture.year,
                    "database_url": database_url,
                    "max_rows": command_max_rows(n),
                }
                clear_records(fixture.school)
                run.loads.append(os.getloadavg()[0])
                read, copy, _ = measure_floor(fixture, roster)
                run.reads.append(read)
                run.copies.append(copy)
                first = run_command("all new", path, **options)
                report = json.loads(first.output)
                assert (report["inserted"], report["committed"]) == (n, True), report
                assert records.count() == n
                run.firsts.append(first)
                again = run_command("re-upload unchanged", path, **options)
                report = json.loads(again.output)
                assert (report["unchanged"], report["committed"]) == (n, True), report
                run.unchanged.append(again)
                if before_root is not None:
                    clear_records(fixture.school)
                    old = run_command("all new", path, root=before_root, **options)
                    assert json.loads(old.output)["inserted"] == n, old.output
                    run.before_firsts.append(old)
                    old_again = run_command("unchanged", path, root=before_root, **options)
                    assert json.loads(old_again.output)["unchanged"] == n, old_again.output
                    run.before_unchanged.append(old_again)
                    print(
                        f"  round {round_number}, {n:,} rows, before: command {old.seconds:.2f} s "
                        f"({old.tree_peak_mb:.0f} MB), unchanged {old_again.seconds:.2f} s",
                        flush=True,
                    )
                print(
                    f"  round {round_number}, {n:,} rows: floor {read + copy:.2f} s, "
                    f"command {first.seconds:.2f} s ({first.tree_peak_mb:.0f} MB), "
                    f"unchanged {again.seconds:.2f} s, load {run.loads[-1]:.2f}",
                    flush=True,
                )
        for run in runs.values():
            run.loads.append(os.getloadavg()[0])
    return runs


def floor_lines(run: FloorRun, rosters: Rosters) -> list[str]:
    verdict = "met" if run.ratio <= RATIO_TARGET else "**not met**"
    memory_target = 300 if rosters.rows <= 50_000 else 600
    memory = "met" if run.tree_peak_mb < memory_target else "**not met**"

    def each(values: list[float]) -> str:
        return ", ".join(f"{value:.2f}" for value in values)

    writes = [sum(again.writes.values()) for again in run.unchanged]
    return [
        f"| what ({len(run.floors)} interleaved rounds) | best s | every round s | "
        "peak RSS MB (command or its reader) | peak RSS MB (command + reader, sampled) | "
        "rows written (ins/upd/del), last round |",
        "|---|---:|---|---:|---:|---|",
        f"| floor: python-calamine read (in process) | {min(run.reads):.2f} | {each(run.reads)} "
        "| — | — | — |",
        f"| floor: COPY of the same rows (rolled back) | {min(run.copies):.2f} | "
        f"{each(run.copies)} | — | — | — |",
        f"| **floor** (read + COPY) | **{run.floor:.2f}** | {each(run.floors)} | — | — | — |",
        *(
            f"| `import_roster --commit`, {runs[-1].label} | {min(r.seconds for r in runs):.2f} "
            f"| {each([r.seconds for r in runs])} | {max(r.peak_mb for r in runs):.0f} | "
            f"{max(r.tree_peak_mb for r in runs):.0f} | "
            f"{runs[-1].writes['inserted']:,} / {runs[-1].writes['updated']:,} / "
            f"{runs[-1].writes['deleted']:,} |"
            for runs in (run.firsts, run.unchanged)
        ),
        "",
        f"load average (1 min) at the start of each round, and at the end: "
        f"{' / '.join(f'{load:.2f}' for load in run.loads)}",
        "",
        f"**Target:** `import_roster --commit` of {rosters.rows:,} rows (the whole command, "
        f"Django's start included) within {RATIO_TARGET:.0f}× the floor: best "
        f"{run.first.seconds:.2f} s / best floor {run.floor:.2f} s = **{run.ratio:.2f}×**: "
        f"{verdict}; peak {run.tree_peak_mb:.0f} MB for the command and its reader together "
        f"(< {memory_target} MB): {memory}; a re-upload of the unchanged roster wrote "
        f"{', '.join(map(str, writes))} rows to the records table.",
    ]


def sizes_lines(runs: dict[int, FloorRun]) -> list[str]:
    """One line per size: the best times, the ratio to the floor, seconds per 1,000 rows (and
    the marginal cost from the previous size: a linear import keeps it flat), peak memory."""
    lines = [
        "| rows | floor s | `import_roster --commit` s | ratio | s per 1,000 rows | "
        "marginal s per 1,000 rows (from the previous size) | floor s per 1,000 rows | "
        "peak MB, command + reader (sampled) | peak MB, largest process | "
        "unchanged re-upload s | its writes | load (1 min) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    previous = None
    for rows, run in sorted(runs.items()):
        seconds = run.first.seconds
        marginal = "—"
        if previous is not None:
            marginal = f"{(seconds - previous[1]) / (rows - previous[0]) * 1000:.3f}"
        writes = max(sum(again.writes.values()) for again in run.unchanged)
        lines.append(
            f"| {rows:,} | {run.floor:.2f} | {seconds:.2f} | {run.ratio:.2f}× | "
            f"{seconds / rows * 1000:.3f} | {marginal} | {run.floor / rows * 1000:.3f} | "
            f"{run.tree_peak_mb:.0f} | {run.peak_mb:.0f} | "
            f"{min(again.seconds for again in run.unchanged):.2f} | {writes} | "
            f"{min(run.loads):.2f}–{max(run.loads):.2f} |"
        )
        previous = (rows, seconds)
    smallest, largest = min(runs), max(runs)
    growth = (runs[largest].first.seconds / largest) / (runs[smallest].first.seconds / smallest)
    lines += [
        "",
        f"Time per 1,000 rows at {largest:,} rows is {growth:.2f}× that at {smallest:,} rows "
        f"(1.00 = linear; the command's fixed start, about a second, makes it fall); peak memory "
        f"at {largest:,} rows is {runs[largest].tree_peak_mb / runs[smallest].tree_peak_mb:.2f}× "
        f"that at {smallest:,} rows, for {largest / smallest:.0f}× the rows.",
    ]
    return lines


def before_after_lines(runs: dict[int, FloorRun], before_root: Path) -> list[str]:
    """The command from `before_root` and from this checkout, run in the same rounds."""
    lines = [
        f"Before = `{before_root}` (an export of the earlier commit), after = this checkout; "
        "both commands in every round, right after each other, best of the rounds:",
        "",
        "| rows | floor s | before s (ratio) | after s (ratio) | before s / 1,000 rows | "
        "after s / 1,000 rows | before peak MB, command + reader | after peak MB, command + "
        "reader | before peak MB, largest process | after peak MB, largest process | "
        "before unchanged s | after unchanged s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows, run in sorted(runs.items()):
        old = min(run.before_firsts, key=lambda r: r.seconds)
        new = run.first
        olds = run.before_firsts + run.before_unchanged
        lines.append(
            f"| {rows:,} | {run.floor:.2f} | {old.seconds:.2f} ({old.seconds / run.floor:.2f}×) | "
            f"{new.seconds:.2f} ({run.ratio:.2f}×) | {old.seconds / rows * 1000:.3f} | "
            f"{new.seconds / rows * 1000:.3f} | {max(r.tree_peak_mb for r in olds):.0f} | "
            f"{run.tree_peak_mb:.0f} | {max(r.peak_mb for r in olds):.0f} | {run.peak_mb:.0f} | "
            f"{min(r.seconds for r in run.before_unchanged):.2f} | "
            f"{min(r.seconds for r in run.unchanged):.2f} |"
        )
    return lines


def record_sizes(
    runs: dict[int, FloorRun],
    rosters: list[Rosters],
    info: dict,
    url: str,
    rounds: int,
    before_root: Path | None = None,
) -> None:
    sizes = ",".join(str(roster.rows) for roster in rosters)
    marker = f"bench_import:sizes:{info['vendor']}:{sizes}"
    section = [
        f"<!-- {marker} -->",
        f"## roster import at {', '.join(f'{r.rows:,}' for r in rosters)} rows, {info['db']}",
        "",
        f"- date: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"- machine: `nproc` = {info['nproc']}, {info['cpu']}, {info['memory']}; load average "
        f"(1 min) at the end of the run {os.getloadavg()[0]:.2f} (shared with other engineers)",
        f"- Python {info['python']}, Django {info['django']}; DB: {info['db']} "
        f"(`{redact(url)}`), DEBUG off",
        "- rosters: "
        + "; ".join(
            f"{r.rows:,} rows ({len(r.content) / 1024**2:.1f} MB .xlsx)"
            + (f", `--max-rows {command_max_rows(r.rows)}`" if command_max_rows(r.rows) else "")
            for r in rosters
        ),
        f"- command: `.venv/bin/python bench/bench_import.py --sizes {sizes} --rounds {rounds} "
        + (f"--before-root {before_root} " if before_root else "")
        + "--record`",
        "",
        *sizes_lines(runs),
        *(["", *before_after_lines(runs, before_root)] if before_root else []),
    ]
    for roster in rosters:
        section += ["", f"### {roster.rows:,} rows", "", *floor_lines(runs[roster.rows], roster)]
    section.append(f"<!-- /{marker} -->")
    _write_section(marker, section)


# --- reporting ---------------------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    from django import get_version
    from django.db import connection

    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = str(os.cpu_count())
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            match = re.search(r"^model name\s*:\s*(.+)$", handle.read(), re.MULTILINE)
        if match:
            cpu = match.group(1).strip()
    except OSError:
        pass
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f"{pages / 1024**3:.1f} GiB RAM"
    except (ValueError, OSError):
        pass
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            db = f"PostgreSQL {cursor.fetchone()[0].split()[0]}"
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT sqlite_version()")
            db = f"SQLite {cursor.fetchone()[0]}"
        else:
            db = connection.vendor
    return {
        "nproc": nproc,
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "django": get_version(),
        "db": db,
        "vendor": connection.vendor,
    }


def table(run: Run, trace_run: Run | None) -> list[str]:
    lines = [
        "| step | seconds | of which GC s | peak RSS MB | Python heap peak MB (tracemalloc) |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in STEPS.items():
        m = run.measurements[key]
        heap = "—"
        if trace_run is not None:
            heap = f"{trace_run.measurements[key].heap_peak_mb:.0f}"
        seconds = f"{m.seconds:.2f}" + (" (profiled)" if m.profiled else "")
        lines.append(f"| {label} | {seconds} | {m.gc_seconds:.2f} | {m.peak_rss_mb:.0f} | {heap} |")
    return lines


def summary(run: Run, rosters: Rosters) -> dict[str, float]:
    m = run.measurements
    return {
        "read": m["read"].seconds,
        "validate": max(m["1"].seconds - m["read"].seconds, 0.0),
        "check_plus_commit": m["1"].seconds + m["2"].seconds,
        "commit": m["2"].seconds,
        "generate": rosters.generate_seconds,
    }


def print_report(
    run: Run, trace_run: Run | None, rosters: Rosters, info: dict, url: str, debug: bool
) -> None:
    s = summary(run, rosters)
    print()
    print(
        f"machine: nproc={info['nproc']} ({info['cpu']}, {info['memory']}); "
        f"Python {info['python']}; Django {info['django']}; {info['db']} ({redact(url)}); "
        f"DEBUG={'on' if debug else 'off'}"
    )
    print(
        f"roster: {rosters.rows:,} rows, {len(rosters.content) / 1024**2:.1f} MB .xlsx; "
        f"generating both workbooks took {rosters.generate_seconds:.1f} s (not part of the target)"
    )
    print()
    for line in table(run, trace_run):
        print(line)
    print()
    print(
        f"read {s['read']:.2f} s + validate/plan {s['validate']:.2f} s = check {run.measurements['1'].seconds:.2f} s"
    )
    verdict = "MET" if s["check_plus_commit"] < TARGET_SECONDS else "NOT MET"
    print(
        f"target: check + commit of {rosters.rows:,} rows = {s['check_plus_commit']:.2f} s "
        f"(< {TARGET_SECONDS:.0f} s): {verdict}"
    )


def record(
    run: Run,
    trace_run: Run | None,
    rosters: Rosters,
    info: dict,
    url: str,
    debug: bool,
    floor_run: FloorRun | None = None,
) -> None:
    s = summary(run, rosters)
    marker = f"bench_import:{info['vendor']}:{rosters.rows}"
    verdict = "met" if s["check_plus_commit"] < TARGET_SECONDS else "**not met**"
    section = [
        f"<!-- {marker} -->",
        f"## roster import, {rosters.rows:,} rows, {info['db']}",
        "",
        f"- date: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"- machine: `nproc` = {info['nproc']}, {info['cpu']}, {info['memory']}; load average "
        f"(1 min) at the end of the run {os.getloadavg()[0]:.2f} (shared with other engineers)",
        f"- Python {info['python']}, Django {info['django']}",
        f"- DB: {info['db']} (`{redact(url)}`), DEBUG {'on' if debug else 'off'}",
        f"- roster: {rosters.rows:,} rows ({len(rosters.content) / 1024**2:.1f} MB .xlsx), "
        f"{rosters.changed_rows:,} changed in step 4; generating the workbooks took "
        f"{rosters.generate_seconds:.1f} s (not measured against the target)",
        "- command: `.venv/bin/python bench/bench_import.py --record"
        + (f" --rows {rosters.rows}" if rosters.rows != 50_000 else "")
        + "`",
        "",
        *table(run, trace_run),
        "",
        f"Read {s['read']:.2f} s + validate/plan {s['validate']:.2f} s = check "
        f"{run.measurements['1'].seconds:.2f} s. Peak RSS is the process high-water mark during "
        "the step (reset before each step), so it includes what earlier steps left allocated; "
        "GC is the time spent in Python's cyclic garbage collector (gc.callbacks) within the "
        "step; the heap column comes from a second pass under tracemalloc.",
        "",
        f"**Target:** {rosters.rows:,} rows validated and committed on PostgreSQL in well under "
        f"{TARGET_SECONDS:.0f} s — check + commit (steps 1 + 2) took "
        f"**{s['check_plus_commit']:.2f} s**: {verdict}.",
        *(["", *floor_lines(floor_run, rosters)] if floor_run else []),
        f"<!-- /{marker} -->",
    ]
    _write_section(marker, section)


def _write_section(marker: str, section: list[str]) -> None:
    """Replace the section between the marker's comments, or append it."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    if not text:
        text = (
            "# Benchmark results\n\n"
            "Written by `bench/bench_import.py --record`; each section is rewritten by the next "
            "run with the same database engine and row count.\n"
        )
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


# --- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument(
        "--before-root",
        type=Path,
        default=None,
        help="with --sizes: also run import_roster from this other checkout (e.g. `git archive` "
        "of an earlier commit) in every round, for a before/after under the same load",
    )
    parser.add_argument(
        "--sizes",
        default=None,
        help="comma-separated row counts (e.g. 50000,100000,200000): only the floor and the "
        "command at each size, sizes interleaved in every round",
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"default: {DEFAULT_DATABASE_URL} (created when missing)",
    )
    parser.add_argument(
        "--year", type=int, default=None, help="enrollment year (default: this year)"
    )
    parser.add_argument("--record", action="store_true", help="write a section of bench/RESULTS.md")
    parser.add_argument(
        "--profile",
        action="append",
        choices=list(STEPS),
        default=[],
        help="run this step under cProfile and print the top functions by cumulative time "
        "(repeatable; not with --record)",
    )
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds of floor and command"
    )
    parser.add_argument(
        "--no-command",
        action="store_true",
        help="skip the floor and the `import_roster --commit` runs (PostgreSQL only)",
    )
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="skip the second pass under tracemalloc"
    )
    parser.add_argument(
        "--django-debug",
        action="store_true",
        help="run with DEBUG on (Django then logs every query's SQL in memory)",
    )
    args = parser.parse_args(argv)
    if args.record and args.profile:
        parser.error("--record measures unprofiled runs; drop --profile")
    if args.rows < 10:
        parser.error("--rows must be at least 10")

    url = args.database_url
    if urlsplit(url).scheme in {"postgres", "postgresql", "pgsql"}:
        ensure_postgres_database(url)
    setup_django(url, debug=args.django_debug)

    from django.utils import timezone

    year = args.year or timezone.localdate().year
    fixture = make_fixture(year)
    info = machine_info()

    if args.sizes:
        if urlsplit(url).scheme not in {"postgres", "postgresql", "pgsql"}:
            parser.error("--sizes measures against a COPY floor: PostgreSQL only")
        sizes = sorted({int(size) for size in args.sizes.split(",")})
        rosters = []
        for size in sizes:
            print(f"generating a {size:,}-row roster …", flush=True)
            rosters.append(make_rosters(size, year, changed_too=False))
        print(f"floor and command, {args.rounds} rounds …", flush=True)
        runs = floor_and_command_sizes(
            fixture, rosters, url, rounds=args.rounds, before_root=args.before_root
        )
        for roster in rosters:
            print(f"\n{roster.rows:,} rows")
            print("\n".join(floor_lines(runs[roster.rows], roster)))
        print()
        print("\n".join(sizes_lines(runs)))
        if args.before_root:
            print()
            print("\n".join(before_after_lines(runs, args.before_root)))
        if args.record:
            record_sizes(runs, rosters, info, url, args.rounds, args.before_root)
        clear_records(fixture.school)
        return 0

    print(f"generating {args.rows:,}-row rosters …", flush=True)
    rosters = make_rosters(args.rows, year)

    print("timed pass …", flush=True)
    run = run_sequence(
        fixture, rosters, profile_steps=frozenset(args.profile), profile_top=args.profile_top
    )
    floor_run = None
    if urlsplit(url).scheme in {"postgres", "postgresql", "pgsql"} and not args.no_command:
        print("floor and command …", flush=True)
        floor_run = floor_and_command(fixture, rosters, url, rounds=args.rounds)
    trace_run = None
    if not args.no_tracemalloc and not args.profile:
        print("tracemalloc pass …", flush=True)
        trace_run = run_sequence(fixture, rosters, trace=True)

    print_report(run, trace_run, rosters, info, url, args.django_debug)
    if floor_run:
        print()
        print("\n".join(floor_lines(floor_run, rosters)))
    if args.record:
        record(run, trace_run, rosters, info, url, args.django_debug, floor_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
