"""The browser tests' session: one production stack, Debian's Chromium, the demo data.

Run with `make e2e` (`pytest -p no:django e2e`): the stack is the system under test, in its
own processes; this process never touches its database except through the browser, the
command line (`manage.py`) and the files the stack writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page

from e2e.journey import AXE, Journey, Outbox
from e2e.stack import (
    Database,
    RedisDatabase,
    Stack,
    free_port,
    postgres_server,
    redis_server,
    stack_env,
)
from enrollment.demo import demo_rows, roster_workbook

CHROMIUM = "/usr/bin/chromium"
# As the machine's notes prescribe: no sandbox as root, and no calls home from a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "demo-2026"  # seed_demo's
STUDENT_LINE = re.compile(r"^\s+(\S+)\s+(\d{17}[\dX])\s+→ (.+)$", re.MULTILINE)


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("django"):
        raise pytest.UsageError("Run the browser tests with `make e2e` (pytest -p no:django e2e).")
    if not AXE.exists():
        raise pytest.UsageError(f"{AXE} is missing: `make e2e` installs it (npm ci --prefix e2e).")


@dataclass(frozen=True)
class DemoStudent:
    name: str
    id_number: str
    outcome: str
    row: dict[str, str]  # as on 1012's roster


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("stack")
    database = Database(postgres_server())
    broker = RedisDatabase(redis_server())
    port = free_port()
    stack = Stack(
        base_url=f"http://127.0.0.1:{port}",
        env=stack_env(database_url=database.url, redis_url=broker.url, folder=folder, port=port),
        outbox=folder / "sms-outbox.jsonl",
        log=folder / "stack.log",
    )
    try:
        stack.manage("migrate", "--noinput")
        stack.seed = stack.manage("seed_demo")
        stack.start()
        stack.wait_until("/readyz", 200, timeout=240)
        yield stack
    finally:
        try:
            stack.stop()
        finally:
            print(f"\nstack log ({stack.log}):\n{stack.tail(30)}")
            broker.release()
            database.drop()


@pytest.fixture(scope="session")
def year(stack: Stack) -> int:
    return int(re.search(r"新生名单-(\d{4})\.xlsx", stack.seed).group(1))


@pytest.fixture(scope="session")
def demo_students(stack: Stack, year: int) -> dict[str, DemoStudent]:
    """The students seed_demo printed, one per account outcome, keyed by the outcome."""
    printed = STUDENT_LINE.findall(stack.seed)
    rows = demo_rows(len(printed), school_code="1012", campus_codes=["101200", "101201"], year=year)
    students = {}
    for (name, id_number, outcome), row in zip(printed, rows, strict=True):
        assert (row["姓名"], row["证件号码"]) == (name, id_number)  # the same roster, rebuilt
        students[outcome] = DemoStudent(name, id_number, outcome, row)
    return students


@pytest.fixture(scope="session")
def stored_1012(year: int) -> list[dict[str, str]]:
    """The 500 freshmen seed_demo stored on 1012's roster (rebuilt: the demo is deterministic)."""
    return demo_rows(500, school_code="1012", campus_codes=["101200", "101201"], year=year)


@pytest.fixture(scope="session")
def also_at_1014(stack: Stack, demo_students, tmp_path_factory) -> DemoStudent:
    """The demo student who will succeed, also on 1014's roster, filed by its filer's CLI."""
    student = demo_students["建账成功"]
    row = {**student.row, "学号": "1014" + student.row["学号"][-6:], "总分校编码": "101400"}
    path = tmp_path_factory.mktemp("rosters") / "1014.xlsx"
    path.write_bytes(roster_workbook([row]))
    output = stack.manage(
        "import_roster",
        str(path),
        "--school",
        "1014",
        "--commit",
        "--as-user",
        "filer1014",
        "--json",
    )
    assert '"inserted": 1' in output, output
    return student


@pytest.fixture(scope="session")
def outbox(stack: Stack) -> Outbox:
    return Outbox(stack.outbox)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    # Debian's Chromium: Playwright's own browser download is not possible here.
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict, stack: Stack) -> dict:
    return {
        **browser_context_args,
        "base_url": stack.base_url,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
        "accept_downloads": True,
    }


# Run order, by module (others in between): the health tests need a healthy stack to stop
# parts of; the hostile file may keep the files worker busy (until issue 8's refusal lands);
# stopping the stack ends the session.
RUN_FIRST, RUN_LATE, RUN_LAST = "test_health", "test_journey_4_hostile_file", "test_stack_stops"


@pytest.hookimpl(trylast=True)  # after pytest and pytest-playwright have grouped the tests
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {RUN_FIRST: 0, RUN_LATE: 2, RUN_LAST: 3}
    items.sort(key=lambda item: rank.get(item.module.__name__.rsplit(".", 1)[-1], 1))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def journey(request: pytest.FixtureRequest) -> Iterator[Journey]:
    name = re.sub(r"[^\w-]+", "-", request.node.name.removeprefix("test_")).strip("-")
    journey = Journey(name)
    yield journey
    report = getattr(request.node, "report_call", None)
    if report is not None and report.passed:  # a failed step left its page unchecked, of course
        journey.assert_every_page_checked()


# Every page of the site runs under a strict Content-Security-Policy (no inline script or
# style). A violation is reported to the page as a securitypolicyviolation event and by Chromium
# on the console; either fails the test, so a page that needs something the policy blocks
# (and so looks or works differently in production) cannot pass.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
    window.__cspViolation(
        `${event.violatedDirective} blocked ${event.blockedURI || "inline"} ` +
        `at ${event.sourceFile || document.location.pathname}:${event.lineNumber} ` +
        `${event.sample || ""}`
    );
});
"""


@pytest.fixture
def csp_violations() -> list[str]:
    """What the page fixture saw the policy block, in this test."""
    return []


@pytest.fixture
def page(page: Page, journey: Journey, csp_violations: list[str]) -> Iterator[Page]:
    page.set_default_timeout(20_000)
    page.expose_function(
        "__cspViolation", lambda text: csp_violations.append(f"{page.url}: {text}")
    )
    page.add_init_script(CSP_LISTENER)

    def console(message) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            csp_violations.append(f"{page.url}: console: {message.text}")

    page.on("console", console)
    yield journey.follow(page)
    assert not csp_violations, "Content-Security-Policy violations:\n" + "\n".join(csp_violations)


def log_in(page: Page, journey: Journey, username: str) -> None:
    page.goto("/accounts/login/")
    journey.check(page, f"login-{username}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def downloaded(download, folder) -> Path:
    """Save a download under the name the site gave it (and an .xlsx must be named .xlsx)."""
    path = folder / download.suggested_filename
    download.save_as(path)
    return path


def log_out(page: Page) -> None:
    page.click("header .who button[type=submit]")
    page.wait_for_url("**/accounts/login/")
