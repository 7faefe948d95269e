"""The student flow over HTTP against `make serve`'s stack, with a trivial view as yardstick.

One command (PostgreSQL and Redis must be running):

    .venv/bin/python bench/bench_student_flow.py            # 5,000 students, 10/50/100 at once
    .venv/bin/python bench/bench_student_flow.py --quick    # 700 students, a few minutes
    .venv/bin/python bench/bench_student_flow.py --profile  # + queries and a profile per step

What it does:

1. Starts the production stack as `make serve` does (`python -m config.serve`: migrate,
   collectstatic, honcho with the Procfile's gunicorn, a Celery worker per queue and beat;
   e2e/stack.py), on a free port, with a PostgreSQL database of its own (--database, recreated)
   and a Redis database number of its own (--redis-url, or the first empty one), DEBUG off.
   Only for the bench: SMS_SENDER is the browser tests' outbox file, from which the students
   read their codes, and BENCH_TRIVIAL_VIEW=1 adds /bench/trivial/ (a view answering "ok"
   through every middleware). Students come through a trusted proxy (127.0.0.1) with an
   address each (X-Forwarded-For), as behind a deployment's load balancer.
2. Seeds: `seed_demo`, then N distinct freshmen on school 1013's roster (stored through the
   real importer) and a batch's worth on school 1014's.
3. For each concurrency (10, 50, 100): the trivial view for a few seconds at that
   concurrency, then the students, each through the 9 requests of the flow with a cookie jar
   of its own: GET identify, POST identify, GET verify, POST verify (the code read from the
   outbox), GET start (302), GET record, GET pledge, POST pledge (a real PNG signature), GET
   submitted. Every answer's status and target are checked. Per step: requests/s, p50/p95/p99;
   per level: submissions/s, and the web processes' CPU per request (from /proc: gunicorn's
   master and workers, the dead workers through the master's children times) — the figure the
   machine's other load does not change. The ratio printed is the flow's cost per request to
   the trivial view's, both as CPU per request and as wall time per request at saturation.
4. During the 100 level, filer1014 confirms a batch (on the `batches` queue, its accounts at
   bulk priority); afterwards the time from each submission to its account (processed_at -
   submitted_at) is read from the database, per level, students and batch apart.

The load generator is aiohttp (asyncio, its HTTP parser in C): on a 2-core machine shared with
the stack, the client's own CPU per request is what limits how hard one process can push, and
aiohttp costs a fraction of httpx's (pure-Python h11) or of a thread per student.

--record writes the run into bench/RESULTS.md (section bench_student_flow).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import psycopg2  # noqa: E402

from e2e.stack import RedisDatabase, Stack, free_port, stack_env  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/portal_bench_flow"
DEFAULT_REDIS_SERVER = "redis://127.0.0.1:6379/0"
FLOW_SCHOOL, FLOW_CAMPUS = "1013", "101300"
BATCH_SCHOOL, BATCH_CAMPUS, BATCH_FILER = "1014", "101400", "filer1014"
# demo_rows varies the ID's region per block of 1,000 rows (mod 100): seed_demo uses blocks 0–1,
# the flow's students blocks 10–29, the batch's 60–89, so that no two people share an ID.
FLOW_FIRST_ROW, BATCH_FIRST_ROW = 10_000, 60_000
STEPS = (
    "identify GET",
    "identify POST",
    "verify GET",
    "verify POST",
    "start GET",
    "record GET",
    "pledge GET",
    "pledge POST",
    "submitted GET",
)
TRIVIAL = "trivial GET"
CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
CODE = re.compile(r"验证码是 (\d{6})")


# --- plumbing ------------------------------------------------------------------------------------


def with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path, query=""))


def recreate_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    # Only a bench's own database is dropped: its name says so (portal_bench_flow, flow_bench…).
    assert re.fullmatch(r"\w*bench\w*", name), f"refusing to recreate database {name!r}"
    connection = psycopg2.connect(with_path(url, "/postgres"))
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def signature_data_url() -> str:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (600, 180), (0, 0, 0, 0))
    ImageDraw.Draw(image).line(
        [(40, 120), (120, 40), (200, 140), (320, 50), (480, 130)], fill=(16, 24, 40, 255), width=4
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class WebCpu:
    """CPU seconds used so far by gunicorn (master, live workers, and workers that exited)."""

    def __init__(self, stack: Stack) -> None:
        self.group = stack.pids()["web"]
        self.ticks = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float:
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()
            if int(fields[2]) != self.group:
                continue
            utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
            total += utime + stime + cutime + cstime
        return total / self.ticks


class Outbox:
    """The one-time codes, read as the stack appends them to the SMS outbox file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.codes: dict[str, str] = {}
        self.waiters: dict[str, asyncio.Future] = {}

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as outbox:
            outbox.seek(self.offset)
            data = outbox.read()
        complete = data.rfind(b"\n") + 1
        self.offset += complete
        for line in data[:complete].decode("utf-8").splitlines():
            message = json.loads(line)
            code = CODE.search(message["message"]).group(1)
            self.codes[message["phone"]] = code
            waiter = self.waiters.pop(message["phone"], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(code)

    async def run(self) -> None:
        while True:
            self.poll()
            await asyncio.sleep(0.005)

    async def code_for(self, phone: str, timeout: float = 30) -> str:
        if phone in self.codes:
            return self.codes.pop(phone)
        waiter = asyncio.get_running_loop().create_future()
        self.waiters[phone] = waiter
        code = await asyncio.wait_for(waiter, timeout)
        self.codes.pop(phone, None)
        return code


# --- seeding -------------------------------------------------------------------------------------


@dataclass
class Student:
    name: str
    id_number: str
    phone: str
    address: str


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()


def seed(count: int, batch_count: int) -> tuple[list[Student], list[int]]:
    """N students on 1013's roster and a batch's worth on 1014's, through the importer."""
    from django.utils import timezone

    from enrollment import importer
    from enrollment.demo import demo_rows, roster_workbook
    from enrollment.models import StudentRecord
    from schools.models import Campus, FilerDesignation, School, User

    year = timezone.localdate().year
    # 1013's roster needs a filer designated for its campus (seed_demo has none).
    flow_filer, _ = User.objects.get_or_create(
        username="bench_filer1013", defaults={"role": User.Role.SCHOOL_FILER}
    )
    FilerDesignation.objects.get_or_create(
        user=flow_filer, campus=Campus.objects.get(code=FLOW_CAMPUS)
    )
    filers = {FLOW_SCHOOL: flow_filer, BATCH_SCHOOL: User.objects.get(username=BATCH_FILER)}
    students: list[Student] = []
    batch_ids: list[int] = []
    for code, campus, rows_wanted, start in [
        (FLOW_SCHOOL, FLOW_CAMPUS, count, FLOW_FIRST_ROW),
        (BATCH_SCHOOL, BATCH_CAMPUS, batch_count, BATCH_FIRST_ROW),
    ]:
        if not rows_wanted:
            continue
        rows = demo_rows(
            rows_wanted, school_code=code, campus_codes=[campus], year=year, start=start
        )
        school = School.objects.get(code=code)
        result = importer.roster_import(
            content=roster_workbook(rows), school=school, year=year, user=filers[code], commit=True
        )
        assert result.errors == [] and result.committed, str(result.as_dict())[:500]
        if code == FLOW_SCHOOL:
            students = [
                Student(
                    name=row["姓名"],
                    id_number=row["证件号码"],
                    phone=row["联系电话"],
                    address=f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}",
                )
                for index, row in enumerate(rows, start=1)
            ]
        else:
            batch_ids = list(
                StudentRecord.objects.filter(school=school, enrollment_year=year).values_list(
                    "pk", flat=True
                )
            )
    assert len({s.phone for s in students}) == len(students), "phones must be distinct"
    shared = (
        StudentRecord.objects.filter(id_number__in=[s.id_number for s in students])
        .exclude(school__code=FLOW_SCHOOL)
        .count()
    )
    assert shared == 0, f"{shared} of the students are on another roster too"
    return students, batch_ids


def start_batch(record_ids: list[int]) -> str:
    from confirmations.models import PolicyYear
    from desk.services import batch_confirmation_create
    from schools.models import User

    batch = batch_confirmation_create(
        user=User.objects.get(username=BATCH_FILER),
        policy_year=PolicyYear.current(),
        record_ids=record_ids,
        attested=True,
        source="bench_student_flow",
    )
    return str(batch.pk)


# --- the load ------------------------------------------------------------------------------------


@dataclass
class Level:
    concurrency: int
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    flow_seconds: float = 0.0
    flows: int = 0
    flow_cpu: float = 0.0
    trivial_seconds: float = 0.0
    trivial_cpu: float = 0.0
    client_cpu: float = 0.0  # this process (the load generator) during the flows
    load_before: tuple[float, float, float] = (0, 0, 0)
    load_after: tuple[float, float, float] = (0, 0, 0)
    started_at: float = 0.0
    ended_at: float = 0.0
    approvals: list[str] = field(default_factory=list)

    @property
    def flow_requests(self) -> int:
        return sum(len(self.latencies[step]) for step in STEPS)

    @property
    def trivial_requests(self) -> int:
        return len(self.latencies[TRIVIAL])

    def cpu_ms(self, trivial: bool) -> float:
        if trivial:
            return 1000 * self.trivial_cpu / max(1, self.trivial_requests)
        return 1000 * self.flow_cpu / max(1, self.flow_requests)

    def wall_ms(self, trivial: bool) -> float:
        """Wall time per request at this concurrency (1 / requests per second)."""
        if trivial:
            return 1000 * self.trivial_seconds / max(1, self.trivial_requests)
        return 1000 * self.flow_seconds / max(1, self.flow_requests)


class FlowError(Exception):
    pass


async def timed(level: Level, step: str, call) -> aiohttp.ClientResponse:
    started = time.perf_counter()
    async with call as response:
        body = await response.read()
    level.latencies[step].append(time.perf_counter() - started)
    response._bench_body = body  # read within the timing, kept for the checks
    return response


def expect(response: aiohttp.ClientResponse, status: int, location: str | None = None) -> bytes:
    if response.status != status:
        title = re.search(rb"<h1[^>]*>(.*?)</h1>", response._bench_body or b"", re.S)
        raise FlowError(
            f"{response.method} {response.url.path}: {response.status} != {status}"
            + (f" ({title.group(1).decode(errors='replace').strip()})" if title else "")
        )
    if location is not None and not response.headers.get("Location", "").startswith(location):
        raise FlowError(f"{response.url.path} went to {response.headers.get('Location')}")
    return response._bench_body


def token(body: bytes) -> str:
    match = CSRF.search(body)
    if match is None:
        raise FlowError("no CSRF token on the page")
    return match.group(1).decode()


async def one_flow(
    base: str,
    connector: aiohttp.TCPConnector,
    student: Student,
    outbox: Outbox,
    signature: str,
    level: Level,
) -> None:
    headers = {"X-Forwarded-For": student.address, "User-Agent": "bench_student_flow"}
    async with aiohttp.ClientSession(
        base,
        connector=connector,
        connector_owner=False,
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        headers=headers,
    ) as http:
        get = lambda path: http.get(path, allow_redirects=False)  # noqa: E731
        post = lambda path, data: http.post(path, data=data, allow_redirects=False)  # noqa: E731
        page = expect(await timed(level, "identify GET", get("/student/identify/")), 200)
        form = {
            "csrfmiddlewaretoken": token(page),
            "name": student.name,
            "id_number": student.id_number,
        }
        response = await timed(level, "identify POST", post("/student/identify/", form))
        expect(response, 302, "/student/verify/")
        page = expect(await timed(level, "verify GET", get("/student/verify/")), 200)
        code = await outbox.code_for(student.phone)
        form = {"csrfmiddlewaretoken": token(page), "code": code}
        response = await timed(level, "verify POST", post("/student/verify/", form))
        expect(response, 302, "/student/start/")
        response = await timed(level, "start GET", get("/student/start/"))
        expect(response, 302, "/student/record/")
        expect(await timed(level, "record GET", get("/student/record/")), 200)
        page = expect(await timed(level, "pledge GET", get("/student/pledge/")), 200)
        form = {"csrfmiddlewaretoken": token(page), "agree": "on", "signature": signature}
        response = await timed(level, "pledge POST", post("/student/pledge/", form))
        expect(response, 302, "/student/applications/")
        submitted = response.headers["Location"]
        expect(await timed(level, "submitted GET", get(submitted)), 200)
        level.approvals.append(submitted.rstrip("/").split("/")[-2])


async def run_flows(base: str, students: list[Student], level: Level, cpu: WebCpu) -> None:
    outbox_task = asyncio.create_task(OUTBOX.run())
    signature = signature_data_url()
    queue: asyncio.Queue[Student] = asyncio.Queue()
    for student in students:
        queue.put_nowait(student)
    connector = aiohttp.TCPConnector(limit=level.concurrency, force_close=False)

    async def worker() -> None:
        while True:
            try:
                student = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                await one_flow(base, connector, student, OUTBOX, signature, level)
                level.flows += 1
            except (TimeoutError, FlowError, aiohttp.ClientError) as error:
                level.errors.append(f"{type(error).__name__}: {error}")

    cpu_before = cpu.seconds()
    client_before = time.process_time()
    started = time.perf_counter()
    level.started_at = time.time()
    await asyncio.gather(*(worker() for _ in range(level.concurrency)))
    level.flow_seconds = time.perf_counter() - started
    level.client_cpu = time.process_time() - client_before
    level.ended_at = time.time()
    level.flow_cpu = cpu.seconds() - cpu_before
    outbox_task.cancel()
    await connector.close()


async def run_trivial(base: str, seconds: float, level: Level, cpu: WebCpu) -> None:
    connector = aiohttp.TCPConnector(limit=level.concurrency)
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(base, connector=connector) as http:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                response = await timed(level, TRIVIAL, http.get("/bench/trivial/"))
                if response.status != 200:
                    level.errors.append(f"trivial: {response.status}")

        cpu_before = cpu.seconds()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(level.concurrency)))
        level.trivial_seconds = time.perf_counter() - started
        level.trivial_cpu = cpu.seconds() - cpu_before


OUTBOX: Outbox  # set in main()


# --- accounts ------------------------------------------------------------------------------------


def wait_for_accounts(timeout: float) -> float:
    """Seconds until no application is pending (or the timeout)."""
    from confirmations.models import Application

    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        pending = Application.objects.filter(
            processed_at__isnull=True, record__school__code__in=[FLOW_SCHOOL, BATCH_SCHOOL]
        )
        if not pending.exists():
            break
        time.sleep(1)
    return time.perf_counter() - started


def account_latencies(approvals: list[str]) -> tuple[list[float], int]:
    from confirmations.models import Application

    rows = Application.objects.filter(approval_number__in=approvals).values_list(
        "submitted_at", "processed_at"
    )
    done = [(p - s).total_seconds() for s, p in rows if p is not None]
    return done, len(approvals) - len(done)


def batch_latencies(batch_id: str) -> tuple[list[float], int, float | None]:
    from confirmations.models import Application, BatchConfirmation

    batch = BatchConfirmation.objects.get(pk=batch_id)
    rows = list(Application.objects.filter(batch=batch).values_list("submitted_at", "processed_at"))
    done = [(p - s).total_seconds() for s, p in rows if p is not None]
    last = max((p for _, p in rows if p is not None), default=None)
    total = (last - batch.created_at).total_seconds() if last else None
    return done, len(batch.record_ids) - len(done), total


# --- profile (in process, Django's test client) --------------------------------------------------


def profile(students: list[Student], outbox_path: Path) -> str:
    """Queries per step and a pyinstrument profile of the flow, in this process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from pyinstrument import Profiler

    outbox = Outbox(outbox_path)
    outbox.poll()
    signature = signature_data_url()
    queries: dict[str, list[int]] = defaultdict(list)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for student in students:
        client = Client(HTTP_X_FORWARDED_FOR=student.address, HTTP_HOST="127.0.0.1")

        def step(name, method, path, data=None, client=client):
            with CaptureQueriesContext(connection) as captured:
                response = (
                    getattr(client, method)(path, data) if data else getattr(client, method)(path)
                )
            queries[name].append(len(captured))
            return response

        page = step("identify GET", "get", "/student/identify/")
        data = {
            "csrfmiddlewaretoken": token(page.content),
            "name": student.name,
            "id_number": student.id_number,
        }
        step("identify POST", "post", "/student/identify/", data)
        page = step("verify GET", "get", "/student/verify/")
        outbox.poll()
        code = outbox.codes.pop(student.phone)
        step("verify POST", "post", "/student/verify/", {"code": code})
        step("start GET", "get", "/student/start/")
        step("record GET", "get", "/student/record/")
        step("pledge GET", "get", "/student/pledge/")
        response = step(
            "pledge POST", "post", "/student/pledge/", {"agree": "on", "signature": signature}
        )
        assert response.status_code == 302, response.status_code
        step("submitted GET", "get", response["Location"])
    profiler.stop()
    lines = ["queries per request (in process):"]
    for name in STEPS:
        lines.append(f"  {name:14} {sum(queries[name]) / len(queries[name]):5.1f}")
    lines.append(f"  {'flow total':14} {sum(sum(v) / len(v) for v in queries.values()):5.1f}")
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    return "\n".join(lines) + "\n\n" + text


# --- report --------------------------------------------------------------------------------------


def level_table(levels: list[Level]) -> list[str]:
    out = [
        "| concurrency | step | requests | req/s | p50 ms | p95 ms | p99 ms |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for level in levels:
        for step in (TRIVIAL, *STEPS):
            values = level.latencies[step]
            seconds = level.trivial_seconds if step == TRIVIAL else level.flow_seconds
            out.append(
                f"| {level.concurrency} | {step} | {len(values)} | {len(values) / seconds:.0f} | "
                f"{1000 * percentile(values, 0.5):.0f} | {1000 * percentile(values, 0.95):.0f} | "
                f"{1000 * percentile(values, 0.99):.0f} |"
            )
        every = [v for step in STEPS for v in level.latencies[step]]
        out.append(
            f"| {level.concurrency} | **flow, all 9** | {len(every)} | "
            f"{len(every) / level.flow_seconds:.0f} | {1000 * percentile(every, 0.5):.0f} | "
            f"{1000 * percentile(every, 0.95):.0f} | {1000 * percentile(every, 0.99):.0f} |"
        )
    return out


def summary_table(levels: list[Level]) -> list[str]:
    out = [
        "| concurrency | flows (errors) | submissions/s | flow req/s | trivial req/s | "
        "web CPU ms/req flow / trivial | **ratio CPU** | wall ms/req flow / trivial | "
        "**ratio wall** | bench client CPU ms/req | load avg before → after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for lv in levels:
        out.append(
            f"| {lv.concurrency} | {lv.flows} ({len(lv.errors)}) | "
            f"{lv.flows / lv.flow_seconds:.1f} | {lv.flow_requests / lv.flow_seconds:.0f} | "
            f"{lv.trivial_requests / max(lv.trivial_seconds, 1e-9):.0f} | "
            f"{lv.cpu_ms(False):.1f} / {lv.cpu_ms(True):.1f} | "
            f"**{lv.cpu_ms(False) / max(lv.cpu_ms(True), 1e-9):.2f}×** | "
            f"{lv.wall_ms(False):.2f} / {lv.wall_ms(True):.2f} | "
            f"**{lv.wall_ms(False) / max(lv.wall_ms(True), 1e-9):.2f}×** | "
            f"{1000 * lv.client_cpu / max(1, lv.flow_requests):.1f} | "
            f"{' '.join(f'{x:.1f}' for x in lv.load_before)} → "
            f"{' '.join(f'{x:.1f}' for x in lv.load_after)} |"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="700 students, 3 s of trivial view")
    parser.add_argument("--students", help="students per level, e.g. 500,1500,3000")
    parser.add_argument("--concurrency", default="10,50,100")
    parser.add_argument("--trivial-seconds", type=float)
    parser.add_argument("--batch", type=int, help="records in the batch run during the last level")
    parser.add_argument(
        "--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", ""))
    parser.add_argument("--queue-prefix", default="benchflow-")
    parser.add_argument(
        "--profile",
        type=int,
        default=20,
        metavar="N",
        help="also profile N students' flows in process (queries, pyinstrument)",
    )
    parser.add_argument("--record", action="store_true", help="write bench/RESULTS.md")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the stack (e.g. WEB_CONCURRENCY=3)",
    )
    args = parser.parse_args(argv)

    levels_wanted = [int(c) for c in args.concurrency.split(",")]
    if args.students:
        per_level = [int(n) for n in args.students.split(",")]
    elif args.quick:
        per_level = [100, 200, 400][: len(levels_wanted)]
    else:
        per_level = [600, 1400, 3000][: len(levels_wanted)]
    if len(per_level) == 1:
        per_level *= len(levels_wanted)
    trivial_seconds = args.trivial_seconds or (3.0 if args.quick else 10.0)
    batch_count = args.batch if args.batch is not None else (500 if args.quick else 2000)

    folder = Path(tempfile.mkdtemp(prefix="bench-flow-"))
    recreate_database(args.database)
    claimed = None
    if args.redis_url:
        redis_url = args.redis_url
    else:
        claimed = RedisDatabase(DEFAULT_REDIS_SERVER)
        redis_url = claimed.url
    port = free_port()
    env = stack_env(database_url=args.database, redis_url=redis_url, folder=folder, port=port)
    env.update(
        CELERY_QUEUE_PREFIX=args.queue_prefix,
        BENCH_TRIVIAL_VIEW="1",
        TRUSTED_PROXIES="127.0.0.1",
        HEARTBEAT_SECONDS="5",
        HEARTBEAT_MAX_AGE_SECONDS="60",
        LOG_LEVEL="WARNING",
    )
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    stack = Stack(
        base_url=f"http://127.0.0.1:{port}",
        env=env,
        outbox=folder / "sms-outbox.jsonl",
        log=folder / "stack.log",
    )
    global OUTBOX
    OUTBOX = Outbox(stack.outbox)
    levels: list[Level] = []
    report: list[str] = []
    try:
        print(f"stack: {stack.base_url} (log {stack.log}), db {args.database}, redis {redis_url}")
        stack.start()
        stack.wait_until("/readyz", 200, timeout=180)
        started = time.perf_counter()
        stack.manage("seed_demo")
        setup_django(env)
        students, batch_ids = seed(sum(per_level) + args.profile, batch_count)
        print(
            f"seeded {len(students)} students + {len(batch_ids)} for the batch "
            f"in {time.perf_counter() - started:.1f} s"
        )
        cpu = WebCpu(stack)
        offset = 0
        batch_id = None
        for concurrency, count in zip(levels_wanted, per_level, strict=True):
            level = Level(concurrency)
            level.load_before = os.getloadavg()
            asyncio.run(run_trivial(stack.base_url, trivial_seconds, level, cpu))
            if concurrency == levels_wanted[-1] and batch_ids:
                batch_id = start_batch(batch_ids)
                print(f"batch {batch_id}: {len(batch_ids)} records confirmed by {BATCH_FILER}")
            asyncio.run(run_flows(stack.base_url, students[offset : offset + count], level, cpu))
            offset += count
            level.load_after = os.getloadavg()
            levels.append(level)
            print("\n".join(summary_table([level])[2:]))
            for error in level.errors[:5]:
                print("  error:", error)
            stack.raise_if_stopped()
        waited = wait_for_accounts(timeout=600)
        print(f"accounts: queue drained {waited:.0f} s after the last level")

        report += [*summary_table(levels), "", *level_table(levels), ""]
        report += [
            "| accounts of | applications | not created | p50 s | p99 s | max s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for level in levels:
            done, missing = account_latencies(level.approvals)
            report.append(
                f"| students at {level.concurrency}"
                f"{' (batch running)' if batch_id and level is levels[-1] else ''} | "
                f"{len(level.approvals)} | {missing} | {percentile(done, 0.5):.1f} | "
                f"{percentile(done, 0.99):.1f} | {max(done, default=float('nan')):.1f} |"
            )
        if batch_id:
            done, missing, total = batch_latencies(batch_id)
            report.append(
                f"| the batch ({len(batch_ids)} records) | {len(done) + missing} | {missing} | "
                f"{percentile(done, 0.5):.1f} | {percentile(done, 0.99):.1f} | "
                f"{max(done, default=float('nan')):.1f} |"
            )
            if total is not None:
                report.append(f"\nBatch: from its creation to its last account {total:.1f} s.")
        if args.profile:
            report += ["", "```", profile(students[offset:], stack.outbox), "```"]
    finally:
        stack.stop()
        if claimed is not None:
            claimed.release()
    text = "\n".join(report)
    header = [
        f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: `nproc` = {os.cpu_count()}, {cpu_model()}; Python "
        f"{platform.python_version()}, Django {django_version()}, aiohttp {aiohttp.__version__}",
        f"- stack: `python -m config.serve` (gunicorn WEB_CONCURRENCY="
        f"{env.get('WEB_CONCURRENCY', '2')} WEB_THREADS={env.get('WEB_THREADS', '4')}, "
        "a Celery worker per queue, beat), DEBUG off, PostgreSQL + Redis on the same machine",
        f"- command: `.venv/bin/python bench/bench_student_flow.py {' '.join(argv or sys.argv[1:])}`",
    ]
    print("\n".join(header) + "\n\n" + text)
    if args.record:
        record("\n".join(header) + "\n\n" + text)
    return 0


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def django_version() -> str:
    import django

    return django.get_version()


def record(text: str) -> None:
    start, end = "<!-- bench_student_flow -->", "<!-- /bench_student_flow -->"
    section = f"{start}\n## student flow over HTTP (issue 14)\n\n{text}\n{end}"
    current = RESULTS.read_text(encoding="utf-8")
    if start in current:
        before, rest = current.split(start, 1)
        current = before + section + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(current, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
