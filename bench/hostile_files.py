"""Issue 8's "done when": every hostile file, through the real command, under a 1.5 GB limit.

For each file described in the issue this script builds it (enrollment/hostile.py, at the
issue's sizes), then runs exactly

    prlimit --as=1610612736 python manage.py import_roster FILE --school 1012 --json

and prints the wall time, the peak resident memory of the largest process of the command (the
command or its reader child: wait4's rusage), the exit status and the size of what it printed.
The target: every run ends by itself within 60 s, with a refusal message or a report under
256 KB. A valid 50,000-row roster is run the same way for comparison.

    .venv/bin/python bench/hostile_files.py [--record] [--only NAME]

The commands run against a throw-away SQLite database (migrated and seeded with the demo
registry in a temporary folder); with --record the table goes into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "RESULTS.md"
ADDRESS_SPACE = 1610612736
TIME_LIMIT = 60
REPORT_LIMIT = 256 * 1024
MB = 1024 * 1024
GB = 1024 * MB


def builders() -> dict[str, tuple[str, object]]:
    from enrollment import hostile
    from enrollment.demo import demo_rows, roster_workbook

    year = dt.date.today().year

    def valid(count: int) -> bytes:
        return roster_workbook(
            demo_rows(count, school_code="1012", campus_codes=["101200", "101201"], year=year)
        )

    one_row = demo_rows(1, school_code="1012", campus_codes=["101200"], year=year)[0]
    return {
        "sparse-corner": ("header + one cell at XFD1048576", hostile.sparse_corner),
        "zip-bomb": (
            "4 GB of whitespace inside sheetData",
            lambda: hostile.whitespace_bomb(uncompressed_bytes=4 * GB),
        ),
        "huge-string": (
            "one inline string of 2 GB",
            lambda: hostile.huge_inline_string(uncompressed_bytes=2 * GB),
        ),
        "long-cell": (
            "one incompressible 1 MB cell",
            lambda: hostile.long_text_cell(length=MB),
        ),
        "million-rows": ("1,048,575 one-cell rows, with references", hostile.million_rows),
        "million-rows-bare": (
            "1,048,575 one-cell rows, no references",
            lambda: hostile.million_rows(references=False),
        ),
        "billion-laughs": ("XML entity expansion (10^9 'lol')", hostile.billion_laughs),
        "lying-sizes": (
            "512 MB of whitespace, sizes declared as 1,000 bytes",
            lambda: hostile.lying_sizes(uncompressed_bytes=512 * MB),
        ),
        "duplicates-8000": (
            "8,000 identical valid rows",
            lambda: hostile.duplicate_rows(one_row, count=8000),
        ),
        "valid-50000": ("a valid 50,000-row roster (for comparison)", lambda: valid(50_000)),
    }


def prepare_database(folder: Path) -> dict[str, str]:
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{folder / 'bench.sqlite3'}",
        DJANGO_DEBUG="1",
        LOG_LEVEL="WARNING",
    )
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    return env


def run(path: Path, env: dict[str, str]) -> dict:
    command = [
        "prlimit",
        f"--as={ADDRESS_SPACE}",
        sys.executable,
        "manage.py",
        "import_roster",
        str(path),
        "--school",
        "1012",
        "--json",
    ]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
        timed_out = False
        deadline = started + TIME_LIMIT * 2
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                timed_out = True
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    exit_code = os.waitstatus_to_exitcode(status)
    message = stderr.decode("utf-8", "replace").strip().splitlines()
    refusal = next((line for line in message if line.startswith("CommandError")), "")
    summary = ""
    if stdout:
        rows = re.search(rb'"rows": (\d+)', stdout)
        errors = re.search(rb'"errors_total": (\d+)', stdout)
        summary = f"report: rows={rows.group(1).decode() if rows else '?'}, errors_total={errors.group(1).decode() if errors else '?'}"
    return {
        "seconds": seconds,
        "peak_mb": usage.ru_maxrss / 1024,
        "exit": exit_code,
        "output_bytes": len(stdout) + len(stderr),
        "timed_out": timed_out,
        "outcome": refusal.removeprefix("CommandError: ") or summary or message[-1:] or "",
    }


def verdict(result: dict) -> str:
    ok = (
        not result["timed_out"]
        and result["seconds"] < TIME_LIMIT
        and result["output_bytes"] < REPORT_LIMIT
        and result["exit"] in (0, 1)
    )
    return "met" if ok else "NOT MET"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--record", action="store_true", help="write the table to RESULTS.md")
    parser.add_argument("--only", action="append", help="run only these files (by name)")
    options = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    files = builders()
    names = options.only or list(files)
    lines = [
        "| file | what | size | seconds | peak RSS MB | exit | output bytes | outcome | target |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="hostile-") as folder_name:
        folder = Path(folder_name)
        env = prepare_database(folder)
        for name in names:
            description, build = files[name]
            started = time.perf_counter()
            content = build()
            built = time.perf_counter() - started
            path = folder / f"{name}.xlsx"
            path.write_bytes(content)
            del content
            result = run(path, env)
            size = path.stat().st_size
            path.unlink()
            outcome = str(result["outcome"]).replace("|", "/")[:120]
            line = (
                f"| {name} | {description} | {size:,} | {result['seconds']:.2f} | "
                f"{result['peak_mb']:.0f} | {result['exit']} | {result['output_bytes']:,} | "
                f"{outcome} | {verdict(result)} |"
            )
            lines.append(line)
            print(line, f"(built in {built:.1f} s)", flush=True)
    if options.record:
        record(lines)


def record(lines: list[str]) -> None:
    import platform

    import django

    marker = "hostile_files"
    section = "\n".join(
        [
            f"<!-- {marker} -->",
            "## hostile files through `import_roster` under a 1.5 GB address-space limit (issue 8)",
            "",
            f"- date: {dt.datetime.now():%Y-%m-%d %H:%M} CST",
            f"- machine: `nproc` = {os.cpu_count()}, Python {platform.python_version()}, "
            f"Django {django.get_version()}, SQLite (throw-away, demo registry)",
            f"- each row: `prlimit --as={ADDRESS_SPACE} python manage.py import_roster FILE "
            "--school 1012 --json`; peak RSS is the largest process of the command (the command "
            "or its reader child), from wait4",
            "- command: `.venv/bin/python bench/hostile_files.py --record`",
            "",
            *lines,
            "",
            f"**Target:** every file ends by itself within {TIME_LIMIT} s with a refusal message "
            f"or a report under {REPORT_LIMIT // 1024} KB.",
            f"<!-- /{marker} -->",
        ]
    )
    text = RESULTS.read_text(encoding="utf-8")
    pattern = re.compile(rf"<!-- {marker} -->.*?<!-- /{marker} -->", re.DOTALL)
    text = pattern.sub(section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    RESULTS.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")


if __name__ == "__main__":
    main()
