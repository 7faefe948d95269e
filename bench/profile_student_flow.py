"""Where each step of the student flow spends its CPU, in process (issue 14).

    .venv/bin/python bench/profile_student_flow.py --students 200 [--top 25] [--step "pledge POST"]

The production settings as `make serve` gets them (DEBUG off, PostgreSQL, sessions `cached_db`
on Redis, the SMS outbox file; e2e.stack.stack_env), a database of its own (recreated) and a
Redis database number of its own; no gunicorn, no network: Django's test client calls the WSGI
handler with every middleware. Per step: CPU ms per request (time.process_time, this process
only, so PostgreSQL's and Redis's own CPU is not in it), queries per request, and the trivial
view (/bench/trivial/) measured the same way as the yardstick. With --top, cProfile's heaviest
functions per step (own time and cumulative), so that a change can be aimed and then measured
back to back with the same command.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_student_flow import (  # noqa: E402
    STEPS,
    Outbox,
    recreate_database,
    seed,
    setup_django,
    signature_data_url,
    token,
)

from e2e.stack import stack_env  # noqa: E402

TRIVIAL = "trivial GET"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--database", default="postgres://postgres@127.0.0.1:5432/flow_profile_bench"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--queue-prefix", default="flowprofile-")
    parser.add_argument("--top", type=int, default=0, help="cProfile's N heaviest functions")
    parser.add_argument(
        "--calls", action="store_true", help="count Python calls per request (cProfile; slower)"
    )
    parser.add_argument("--step", action="append", default=[], help="only these steps' profiles")
    parser.add_argument("--sql", action="store_true", help="print the last flow's queries")
    parser.add_argument("--sort", default="tottime", help="cProfile sort key (tottime, cumulative)")
    parser.add_argument(
        "--callers", action="append", default=[], help="who calls functions matching this regex"
    )
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="profile-flow-"))
    recreate_database(args.database)
    env = stack_env(database_url=args.database, redis_url=args.redis_url, folder=folder, port=0)
    env.update(
        CELERY_QUEUE_PREFIX=args.queue_prefix,
        BENCH_TRIVIAL_VIEW="1",
        TRUSTED_PROXIES="127.0.0.1",
        LOG_LEVEL="WARNING",
        # Publishing after commit is part of the submission; no worker consumes here, so the
        # queue is dropped at the end (its prefix is this script's own).
    )
    setup_django(env)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("seed_demo", verbosity=0)
    students, _ = seed(args.students + args.warmup, 0)

    from django.db import connection
    from django.test import Client

    executed = [0]
    statements: dict[str, list[str]] = defaultdict(list)
    current = [""]

    def count_queries(execute, sql, params, many, context):
        executed[0] += 1
        if args.sql:
            statements[current[0]].append(sql[:160])
        return execute(sql, params, many, context)

    # Counted by a wrapper, not CaptureQueriesContext: its debug cursor adds work to each query.
    counting = connection.execute_wrapper(count_queries)  # kept: a dropped one unregisters
    counting.__enter__()

    outbox = Outbox(Path(env["SMS_OUTBOX_FILE"]))
    signature = signature_data_url()
    cpu: dict[str, float] = defaultdict(float)
    samples: dict[str, list[float]] = defaultdict(list)
    count: dict[str, int] = defaultdict(int)
    queries: dict[str, int] = defaultdict(int)
    profiles: dict[str, cProfile.Profile] = {}
    measuring = False

    def step(name: str, call):
        profile = (
            profiles.setdefault(name, cProfile.Profile(time.process_time))
            if (args.top or args.calls or args.callers) and measuring
            else None
        )
        before = executed[0]
        current[0] = name
        statements[name] = []
        started = time.process_time()
        if profile is not None:
            profile.enable()
        response = call()
        if profile is not None:
            profile.disable()
        spent = time.process_time() - started
        if measuring:
            cpu[name] += spent
            samples[name].append(spent)
            count[name] += 1
            queries[name] += executed[0] - before
        return response

    # One client (one handler, its middleware loaded once, as in a gunicorn worker); each
    # student starts with no cookies.
    client = Client(
        HTTP_HOST="127.0.0.1", HTTP_USER_AGENT="profile_student_flow", enforce_csrf_checks=True
    )

    def flow(student) -> None:
        client.cookies.clear()
        client.defaults["HTTP_X_FORWARDED_FOR"] = student.address
        page = step("identify GET", lambda: client.get("/student/identify/"))
        data = {
            "csrfmiddlewaretoken": token(page.content),
            "name": student.name,
            "id_number": student.id_number,
        }
        response = step("identify POST", lambda: client.post("/student/identify/", data))
        assert response.status_code == 302, response.status_code
        page = step("verify GET", lambda: client.get("/student/verify/"))
        outbox.poll()
        data = {"csrfmiddlewaretoken": token(page.content), "code": outbox.codes.pop(student.phone)}
        response = step("verify POST", lambda: client.post("/student/verify/", data))
        assert response["Location"].startswith("/student/start/"), response
        response = step("start GET", lambda: client.get("/student/start/"))
        assert response["Location"].startswith("/student/record/"), response
        step("record GET", lambda: client.get("/student/record/"))
        page = step("pledge GET", lambda: client.get("/student/pledge/"))
        data = {"csrfmiddlewaretoken": token(page.content), "agree": "on", "signature": signature}
        response = step("pledge POST", lambda: client.post("/student/pledge/", data))
        assert response.status_code == 302, response.status_code
        location = response["Location"]
        step("submitted GET", lambda: client.get(location))

    trivial = Client(HTTP_HOST="127.0.0.1")
    for index, student in enumerate(students):
        measuring = index >= args.warmup
        flow(student)
        for _ in range(9):  # as many trivial requests as the flow's, interleaved
            step(TRIVIAL, lambda: trivial.get("/bench/trivial/"))

    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    calls = {
        name: pstats.Stats(profiles[name]).total_calls / max(1, count[name]) for name in profiles
    }
    print(f"{'step':16} {'CPU ms':>7} {'median':>7} {'queries':>7} {'calls':>7}")
    for name in (TRIVIAL, *STEPS):
        n = max(1, count[name])
        print(
            f"{name:16} {1000 * cpu[name] / n:7.2f} {1000 * statistics.median(samples[name]):7.2f} "
            f"{queries[name] / n:7.1f} {calls.get(name, 0):7.0f}"
        )
    flow_cpu = sum(cpu[name] for name in STEPS) / max(1, sum(count[name] for name in STEPS))
    trivial_cpu = cpu[TRIVIAL] / max(1, count[TRIVIAL])
    print(
        f"{'flow mean':16} {1000 * flow_cpu:7.2f} "
        f"{sum(queries[n] for n in STEPS) / max(1, count[STEPS[0]]):7.1f} (per flow)"
    )
    print(f"ratio flow / trivial CPU per request: {flow_cpu / trivial_cpu:.2f}x")
    if calls:
        flow_calls = sum(calls.get(n, 0) for n in STEPS) / len(STEPS)
        print(
            f"Python calls per request (cProfile, load-independent): flow {flow_calls:.0f}, "
            f"trivial {calls.get(TRIVIAL, 0):.0f}, ratio {flow_calls / calls.get(TRIVIAL, 1):.2f}x"
        )
    if args.sql:
        for name in STEPS:
            print(f"\n--- {name} ---")
            print("\n".join(statements[name]))
    for name in STEPS:
        if args.top and name in profiles and (not args.step or name in args.step):
            out = io.StringIO()
            stats = pstats.Stats(profiles[name], stream=out)
            stats.sort_stats(args.sort).print_stats(args.top)
            print(f"\n=== {name} ===")
            print("\n".join(out.getvalue().splitlines()[4:]))
        if args.callers and name in profiles and (not args.step or name in args.step):
            out = io.StringIO()
            for pattern in args.callers:  # one at a time: pstats ANDs its restrictions
                pstats.Stats(profiles[name], stream=out).print_callers(pattern)
            print(f"\n=== {name}: callers ===")
            print(out.getvalue())

    import redis

    client = redis.Redis.from_url(args.redis_url)
    for key in client.scan_iter(f"{args.queue_prefix}*"):
        client.delete(key)
    # The caches' keys (settings.CACHES): "sessions:<prefix>:1:…", "shared:<prefix>:1:…".
    for cache in ("sessions", "shared"):
        for key in client.scan_iter(f"{cache}:{args.queue_prefix}*"):
            client.delete(key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
