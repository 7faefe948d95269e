"""Staff pages at a city's scale: a school with 50,000 records and a district with 200,000.

Run from the project root (one command; seeds on the first run, in about a minute):

    .venv/bin/python bench/bench_pages.py [--requests 20] [--database-url URL] [--record]

Seeds (server-side `INSERT … SELECT generate_series`, then VACUUM ANALYZE, as autovacuum would):
school 1012 (campuses 101200 in 闵行区 and its branch 101201 in 徐汇区) with 50,000 records, and
three more schools based in 闵行区 with 50,000 each, so 闵行区's handler sees 200,000. About 40% of
the records have an application (created, waiting, pending, failed), some people are on two
rosters (shown as "done elsewhere"); the records' stored statuses are then computed
(`confirmations.status.statuses_refresh_all`). The database is the bench's own (default
`portal_bench_pages`, created when missing); a run finds the seed already there and reuses it.

Then, through Django's test client with DEBUG off (the whole view, middleware and template, no
network), N requests per page as the persona who uses it — the school's filer (designated for
101200, so both campuses of 1012) and 闵行区's handler — and prints p50 / p95 / max in ms and the
number of SQL queries. For each list page the slowest query of one request is shown with
`EXPLAIN (ANALYZE, BUFFERS)`; with --record the figures and the plans go into bench/RESULTS.md.
Target: every list page under 200 ms at p95, each reading through an index.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import secrets
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import ROOT, ensure_postgres_database, machine_info, redact

RESULTS = ROOT / "bench" / "RESULTS.md"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/portal_bench_pages"
SCHOOL_RECORDS = 50_000
OTHER_SCHOOLS = ("1101", "1102", "1103")  # based in 闵行区, 50,000 records each
TARGET_MS = 200.0
FILER = "bench_filer1012"
HANDLER = "bench_handler_minhang"


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DJANGO_DEBUG"] = "false"  # as in production; DEBUG also keeps every query
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["SECURE_SSL_REDIRECT"] = "false"  # the test client speaks plain HTTP
    os.environ["ALLOWED_HOSTS"] = "testserver"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    # DEBUG off serves hashed static names from the collected manifest, as in production.
    call_command("collectstatic", interactive=False, verbosity=0)


# --- seeding -----------------------------------------------------------------------------------


def seed(year: int, *, force: bool) -> dict:
    from django.db import connection, transaction

    from confirmations.models import PolicyYear
    from enrollment.models import StudentRecord
    from schools.models import Campus, District, FilerDesignation, School, User

    with transaction.atomic():
        minhang, _ = District.objects.get_or_create(name="闵行区")
        xuhui, _ = District.objects.get_or_create(name="徐汇区")
        schools = {}
        campuses = {}
        for code in ("1012", *OTHER_SCHOOLS):
            schools[code], _ = School.objects.update_or_create(
                code=code,
                defaults={"name": f"上海某某大学{code}（基准测试）", "status": "active"},
            )
        layout = [("101200", "1012", minhang), ("101201", "1012", xuhui)]
        layout += [(f"{code}00", code, minhang) for code in OTHER_SCHOOLS]
        for code, school, district in layout:
            campuses[code], _ = Campus.objects.update_or_create(
                code=code,
                defaults={"school": schools[school], "name": f"校区{code}", "district": district},
            )
        filer, _ = User.objects.update_or_create(
            username=FILER, defaults={"role": User.Role.SCHOOL_FILER, "is_active": True}
        )
        FilerDesignation.objects.get_or_create(user=filer, campus=campuses["101200"])
        handler, _ = User.objects.update_or_create(
            username=HANDLER,
            defaults={
                "role": User.Role.DISTRICT_HANDLER,
                "district": minhang,
                "is_active": True,
            },
        )
        policy_year = PolicyYear.objects.filter(enrollment_year=year).first()
        if policy_year is None:
            from decimal import Decimal

            policy_year = PolicyYear.objects.create(
                enrollment_year=year,
                closing_date=dt.date(year + 1, 1, 1),
                premium=Decimal("355"),
            )
    expected = SCHOOL_RECORDS * (1 + len(OTHER_SCHOOLS))
    records = StudentRecord.objects.filter(enrollment_year=year, school__in=schools.values())
    if records.count() == expected and not force:
        print(f"seed found: {expected:,} records", flush=True)
        return {"filer": filer, "handler": handler, "seconds": 0.0, "reused": True}

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        from confirmations.models import Application

        Application.objects.filter(record__in=records).delete()
        records.delete()
        for code, school in schools.items():
            if code == "1012":
                parts = [(campuses["101200"], 0), (campuses["101201"], 1)]
            else:
                parts = [(campuses[f"{code}00"], None)]
            _insert_records(cursor, school, parts, year, base=int(code) * 100_000)
        _insert_applications(cursor, policy_year.pk, filer.pk, year, list(schools.values()))
        # Written by SQL, not the pipeline: the stored statuses as the pipeline would keep them.
        from confirmations.status import statuses_refresh_all

        statuses_refresh_all()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE enrollment_studentrecord")
        cursor.execute("VACUUM ANALYZE confirmations_application")
    seconds = time.perf_counter() - started
    print(f"seeded {expected:,} records in {seconds:.1f} s", flush=True)
    return {"filer": filer, "handler": handler, "seconds": seconds, "reused": False}


_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
)
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉宇浩凯健俊帆帅旭宁欣怡佳雨晨"


def _insert_records(cursor, school, parts, year: int, *, base: int) -> None:
    """SCHOOL_RECORDS records: alternating campuses for 1012 (g % 2), one for the others.
    Every 50th person of 1101 is also on 1012's roster (the same ID number)."""
    campus_case = " ".join(f"WHEN {rest} THEN {c.pk}" for c, rest in parts if rest is not None)
    campus_id = f"CASE g %% 2 {campus_case} END" if len(parts) > 1 else str(parts[0][0].pk)
    code_case = " ".join(f"WHEN {rest} THEN '{c.code}'" for c, rest in parts if rest is not None)
    campus_code = f"CASE g %% 2 {code_case} END" if len(parts) > 1 else f"'{parts[0][0].code}'"
    # 1101's every 50th person shares an ID number with one of 1012's.
    person = f"CASE WHEN g %% 50 = 0 THEN {101_200_000} + g ELSE {base} + g END"
    if school.code != "1101":
        person = f"{base} + g"
    cursor.execute(
        f"""
        INSERT INTO enrollment_studentrecord (
            school_id, campus_id, enrollment_year, name, id_type, id_number, origin,
            birth_date, ethnicity, sex, college, major, student_number, education, campus_code,
            registration_date, status, address, postcode, phone, willingness,
            created_at, updated_at)
        SELECT %(school)s, {campus_id}, %(year)s,
            substr(%(surnames)s, 1 + g %% 40, 1) || substr(%(given)s, 1 + (g / 40) %% 40, 1)
                || CASE WHEN g %% 3 = 0 THEN substr(%(given)s, 1 + (g / 7) %% 40, 1) ELSE '' END,
            '1',
            '3101' || lpad(({person})::text, 13, '0') || (g %% 10)::text,
            '本市', DATE '2008-01-01' + (g %% 700), '汉族', (1 + g %% 2)::text,
            '信息学院', '软件工程', %(year_text)s || lpad(g::text, 6, '0'), '1', {campus_code},
            DATE '{year}-09-01', '00', '上海市闵行区东川路800号', '200240',
            '139' || lpad(({base} + g)::text, 8, '0'), '1', now(), now()
        FROM generate_series(1, %(count)s) AS g
        """,
        {
            "school": school.pk,
            "year": year,
            "year_text": str(year),
            "surnames": _SURNAMES,
            "given": _GIVEN,
            "count": SCHOOL_RECORDS,
        },
    )


def _insert_applications(cursor, policy_year_id: int, filer_id: int, year: int, schools) -> None:
    """About 40% of the records: by id % 100, 0–29 created, 30–33 waiting, 34–36 pending,
    37–39 failed (half on behalf of the school's filer)."""
    cursor.execute(
        """
        INSERT INTO confirmations_application (
            approval_number, id_number, name, channel, paper_pledge_attested, state,
            failure_kind, failure_reason, converted_from, submitted_at, last_queued_at,
            attempts, processed_at, waiting_until, account_on, confirmed_by_id, record_id,
            policy_year_id)
        SELECT 'B' || lpad(r.id::text, 11, '0'), r.id_number, r.name,
            CASE WHEN r.id %% 2 = 0 THEN 'self' ELSE 'on_behalf' END, r.id %% 2 = 1,
            CASE WHEN r.id %% 100 < 30 THEN 'created' WHEN r.id %% 100 < 34 THEN 'waiting'
                 WHEN r.id %% 100 < 37 THEN 'pending' ELSE 'failed' END,
            CASE WHEN r.id %% 100 >= 37 THEN 'other' ELSE '' END,
            CASE WHEN r.id %% 100 >= 37 THEN '参保状态异常' ELSE '' END, '',
            now() - (r.id %% 5000) * interval '1 minute', now(), 1,
            CASE WHEN r.id %% 100 < 34 OR r.id %% 100 >= 37 THEN now() END,
            CASE WHEN r.id %% 100 BETWEEN 30 AND 33 THEN DATE %(waiting)s END,
            CASE WHEN r.id %% 100 < 34 THEN DATE %(account)s END,
            CASE WHEN r.id %% 2 = 1 THEN %(filer)s END, r.id, %(policy_year)s
        FROM enrollment_studentrecord r
        WHERE r.enrollment_year = %(year)s AND r.school_id = ANY(%(schools)s) AND r.id %% 100 < 40
          AND NOT (r.school_id <> %(first)s AND r.id_number IN (
              SELECT id_number FROM enrollment_studentrecord
              WHERE school_id = %(first)s AND enrollment_year = %(year)s))
        """,
        {
            "policy_year": policy_year_id,
            "filer": filer_id,
            "year": year,
            "schools": [school.pk for school in schools],
            "first": schools[0].pk,
            "waiting": f"{year}-12-31",
            "account": f"{year}-09-15",
        },
    )


# --- timing ------------------------------------------------------------------------------------


@dataclass
class Timing:
    persona: str
    page: str
    kind: str  # "list", "page" or "export"
    times_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # this process's CPU (view, template)
    queries: int = 0
    status: int = 0
    size: int = 0
    slowest_sql: str = ""
    slowest_ms: float = 0.0
    plan: str = ""
    explained_ms: float = 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def searched_url(client, path: str, data: dict) -> str:
    """POST the search form as the page does and return the `?s=` page it redirects to."""
    response = client.post(path, data)
    assert response.status_code == 302, (path, response.status_code)
    return response["Location"]


def time_page(client, persona: str, page: str, url: str, kind: str, n: int) -> Timing:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timing = Timing(persona, page, kind)
    with CaptureQueriesContext(connection) as captured:  # one request, to see its queries
        response = client.get(url)
    timing.status = response.status_code
    assert response.status_code == 200, (page, url, response.status_code)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    timing.size = len(body)
    timing.queries = len(captured.captured_queries)
    slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
    timing.slowest_sql, timing.slowest_ms = slowest["sql"], float(slowest["time"]) * 1000
    for _ in range(n):
        started, cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        if response.streaming:
            for _chunk in response.streaming_content:
                pass
        timing.times_ms.append((time.perf_counter() - started) * 1000)
        timing.cpu_ms.append((time.process_time() - cpu) * 1000)
    return timing


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def run(users: dict, n: int, export_n: int, only: str) -> list[Timing]:
    from django.test import Client
    from django.urls import reverse

    from enrollment.models import StudentRecord

    timings = []
    records = reverse("enrollment:record_list")
    activation = reverse("desk:activation")
    for persona, user in (
        ("school filer (50,000)", users["filer"]),
        ("闵行区 handler (200,000)", users["handler"]),
    ):
        client = Client()
        client.force_login(user)
        sample = StudentRecord.objects.filter(school__code="1012").order_by("pk")[12345]
        pages = [
            ("records list, first page", records, "list"),
            ("records list, page 500", f"{records}?page=500", "list"),
            ("records search: name", searched_url(client, records, {"q": sample.name}), "list"),
            (
                "records search: student number",
                searched_url(client, records, {"q": sample.student_number}),
                "list",
            ),
            (
                "records search: ID number",
                searched_url(client, records, {"q": sample.id_number}),
                "list",
            ),
            (
                "records search: last 6 of an ID number",
                searched_url(client, records, {"q": sample.id_number[-6:]}),
                "list",
            ),
            ("activation list, first page", activation, "list"),
            ("activation list, page 500", f"{activation}?page=500", "list"),
            *(
                (f"activation list, status={status}", f"{activation}?status={status}", "list")
                for status in (
                    "activated",
                    "waiting",
                    "pending",
                    "failed",
                    "elsewhere",
                    "unconfirmed",
                )
            ),
            (
                "activation list, search: student number",
                searched_url(client, activation, {"q": sample.student_number}),
                "list",
            ),
            ("desk", reverse("desk:desk"), "page"),
            (
                "query page (by ID number)",
                searched_url(client, reverse("desk:query"), {"q": sample.id_number}),
                "page",
            ),
            ("reconciliation workbook", reverse("desk:reconciliation"), "export"),
        ]
        if persona.startswith("school"):
            pages.append(
                ("activation export (all 50,000)", reverse("desk:activation_export"), "export")
            )
        for page, url, kind in pages:
            if only and not any(part in page for part in only.split(",")):
                continue
            count = export_n if kind == "export" else n
            print(f"{persona}: {page} …", flush=True)
            timing = time_page(client, persona, page, url, kind, count)
            timing.plan = explain(timing.slowest_sql)
            found = re.search(r"Execution Time: ([0-9.]+) ms", timing.plan)
            timing.explained_ms = float(found.group(1)) if found else 0.0
            timings.append(timing)
    return timings


# --- reporting ---------------------------------------------------------------------------------


def table(timings: list[Timing]) -> list[str]:
    lines = [
        "| persona | page | requests | p50 ms | p95 ms | max ms | CPU ms p50 (Django) | queries "
        "| slowest query ms | slowest query, EXPLAIN ANALYZE ms | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for t in timings:
        target = "—"
        if t.kind == "list":
            target = "met" if t.p95 < TARGET_MS else "**not met**"
        lines.append(
            f"| {t.persona} | {t.page} | {len(t.times_ms)} | {t.p50:.0f} | {t.p95:.0f} | "
            f"{max(t.times_ms):.0f} | {statistics.median(t.cpu_ms):.0f} | {t.queries} | "
            f"{t.slowest_ms:.0f} | {t.explained_ms:.1f} | {target} |"
        )
    return lines


def plans(timings: list[Timing]) -> list[str]:
    lines = []
    for t in timings:
        if t.kind != "list":
            continue
        sql = re.sub(r"\s+", " ", t.slowest_sql)
        lines += [
            f"**{t.persona}, {t.page}** — slowest query ({t.slowest_ms:.0f} ms):",
            "",
            "```",
            sql if len(sql) < 1500 else sql[:1500] + " …",
            "",
            t.plan,
            "```",
            "",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page")
    parser.add_argument("--export-requests", type=int, default=2)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument(
        "--only", default="", help="only pages whose name contains one of these (comma-separated)"
    )
    parser.add_argument("--record", action="store_true")
    parser.add_argument(
        "--label", default="", help="a word for the recorded section (before, after)"
    )
    args = parser.parse_args(argv)
    if urlsplit(args.database_url).scheme not in {"postgres", "postgresql", "pgsql"}:
        parser.error("the pages bench runs on PostgreSQL")
    ensure_postgres_database(args.database_url)
    setup_django(args.database_url)
    from django.utils import timezone

    year = timezone.localdate().year
    load_before = os.getloadavg()
    users = seed(year, force=args.reseed)
    timings = run(users, args.requests, args.export_requests, args.only)
    load_after = os.getloadavg()
    info = machine_info()
    header = [
        f"- date: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"- machine: `nproc` = {info['nproc']}, {info['cpu']}, {info['memory']}; load average "
        f"(1/5/15 min) before {' / '.join(f'{x:.2f}' for x in load_before)}, after "
        f"{' / '.join(f'{x:.2f}' for x in load_after)} (shared with other engineers' tests)",
        f"- Python {info['python']}, Django {info['django']}, {info['db']} "
        f"(`{redact(args.database_url)}`), DEBUG off, Django test client (no network)",
        "- command: `.venv/bin/python bench/bench_pages.py --record`",
    ]
    print("\n".join(header))
    print("\n".join(table(timings)))
    if args.record:
        marker = f"bench_pages{':' + args.label if args.label else ''}"
        section = [
            f"<!-- {marker} -->",
            f"## staff pages at a city's scale{' (' + args.label + ')' if args.label else ''}",
            "",
            *header,
            "",
            *table(timings),
            "",
            "<details><summary>EXPLAIN (ANALYZE, BUFFERS) of each list page's slowest query"
            "</summary>",
            "",
            *plans(timings),
            "</details>",
            f"<!-- /{marker} -->",
        ]
        text = RESULTS.read_text(encoding="utf-8")
        block = "\n".join(section)
        pattern = re.compile(
            rf"<!-- {re.escape(marker)} -->.*?<!-- /{re.escape(marker)} -->", re.DOTALL
        )
        text = (
            pattern.sub(lambda _: block, text)
            if pattern.search(text)
            else text.rstrip("\n") + "\n\n" + block + "\n"
        )
        RESULTS.write_text(text, encoding="utf-8")
        print(f"recorded in {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
