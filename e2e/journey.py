"""What every journey does on every page: an accessibility check and a screenshot.

`Journey.check(page, step)` runs axe-core on the page as it is and fails on a serious or
critical violation, and saves a full-page screenshot. The journey records every page the
browser navigated to; at its end, a page that was visited but never checked fails the test.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page

E2E = Path(__file__).resolve().parent
SCREENSHOTS = E2E / "screenshots"
AXE = E2E / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = {"serious", "critical"}


class Journey:
    def __init__(self, name: str) -> None:
        self.name = name
        self.step = 0
        self.visited: set[str] = set()
        self.checked: set[str] = set()
        self._axe = AXE.read_text(encoding="utf-8")

    def follow(self, page: Page) -> Page:
        """Record every page this browser tab navigates to."""

        def navigated(frame: object) -> None:
            if frame.parent_frame is None and frame.url.startswith("http"):
                self.visited.add(urlsplit(frame.url).path)

        page.on("framenavigated", navigated)
        return page

    def check(self, page: Page, step: str) -> None:
        """axe-core on the page as it stands, then a screenshot of it."""
        page.wait_for_load_state("load")
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(self._axe)  # evaluated by the browser's debugger: not subject to CSP
        results = page.evaluate(
            "() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)"
        )
        failing = [v for v in results if v["impact"] in FAILING_IMPACTS]
        self.step += 1
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(
            path=SCREENSHOTS / f"{self.name}-{self.step:02d}-{step}.png", full_page=True
        )
        self.checked.add(urlsplit(page.url).path)
        assert not failing, f"axe on {page.url} ({step}):\n" + describe(failing)

    def assert_every_page_checked(self) -> None:
        unchecked = self.visited - self.checked
        assert not unchecked, f"pages visited without an accessibility check: {sorted(unchecked)}"


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['impact']} {violation['id']}: {violation['help']}")
        for node in violation["nodes"][:5]:
            lines.append(f"    {node['target']}: {node.get('failureSummary', '')[:300]}")
    return "\n".join(lines)


class Outbox:
    """The messages confirmations.sms.FileOutboxSender wrote, one JSON object a line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def code_for(self, phone: str, *, after: int, timeout: float = 30) -> str:
        """The one-time code sent to `phone` since `mark()` returned `after`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.path.exists():
                with self.path.open("rb") as outbox:
                    outbox.seek(after)
                    for line in outbox.read().decode("utf-8").splitlines():
                        message = json.loads(line)
                        found = re.search(r"\b(\d{6})\b", message["message"])
                        if message["phone"] == phone and found:
                            return found.group(1)
            time.sleep(0.2)
        raise AssertionError(f"no one-time code for {phone[:3]}****{phone[-4:]} in {self.path}")


def search(page: Page, path: str, text: str) -> None:
    """Search a staff list as a user does: by its form (POST), so no ID number enters a URL."""
    page.goto(path)
    page.fill("#id_q", text)
    with page.expect_navigation():
        page.get_by_role("button", name="查询", exact=True).click()
    assert text not in page.url
