"""Time `enrollment.rules.validate_row` alone on valid demo rows (no file, no database).

Run from the project root:

    .venv/bin/python bench/bench_rules.py [--rows 50000] [--repeat 3] [--compare REV]

`--compare REV` loads `enrollment/rules.py` as it was at git revision REV and times both in the
same process, alternating, so that a busy machine slows both alike (the 2-core machine is shared:
compare ratios, not absolute seconds, with other days' runs). Prints the best of `--repeat`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from enrollment import rules  # noqa: E402  (after the path)
from enrollment.demo import demo_rows  # noqa: E402

CAMPUSES = frozenset({"101200", "101201"})


def load_rules_at(revision: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{revision}:enrollment/rules.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "rules_then.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("rules_then", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["rules_then"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def seconds_for(module: ModuleType, rows: list[dict]) -> float:
    context = module.RowContext("1012", 2026, CAMPUSES, CAMPUSES, dt.date(2026, 11, 28))
    started = time.perf_counter()
    for row in rows:
        outcome = module.validate_row(row, context)
        assert not outcome.errors, outcome.errors
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare", metavar="REV", help="also time rules.py at this revision")
    options = parser.parse_args()
    attribute = {spec.header: spec.attribute for spec in rules.FIELDS}
    rows = [
        {attribute[header]: value for header, value in row.items()}
        for row in demo_rows(
            options.rows, school_code="1012", campus_codes=sorted(CAMPUSES), year=2026
        )
    ]
    modules = {"now": rules}
    if options.compare:
        modules[options.compare] = load_rules_at(options.compare)
    best = {name: float("inf") for name in modules}
    for _ in range(options.repeat):
        for name, module in modules.items():
            best[name] = min(best[name], seconds_for(module, rows))
    for name, seconds in best.items():
        per_row = seconds / options.rows * 1e6
        print(
            f"validate_row, {options.rows:,} rows, rules.py {name}: {seconds:.2f} s ({per_row:.1f} µs/row)"
        )


if __name__ == "__main__":
    main()
