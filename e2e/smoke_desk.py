"""Batch-confirm the 500 demo students as filer1012, watch them activate, export, and check that
a handler of another district sees none of them. Needs a running `make run`.
    python e2e/smoke_desk.py --base http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import io
import re
import time

from openpyxl import load_workbook
from playwright.sync_api import expect, sync_playwright
from smoke_upload import CHROMIUM_ARGS, SHOTS


def login(page, base: str, username: str, password: str) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def count(page) -> int:
    return int(re.search(r"共 (\d+) 人", page.locator(".pagination").inner_text()).group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--password", default="demo-2026")
    args = parser.parse_args()
    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
        login(page, args.base, "filer1012", args.password)
        page.goto(args.base + "/desk/activation/?status=unconfirmed")
        print("unconfirmed before:", count(page))
        page.screenshot(path=SHOTS / "desk-01-activation.png")
        page.check("#id_attested")
        page.click("button[value=all_matching]")
        expect(page.locator(".stats")).to_be_visible(timeout=120_000)
        print("batch:", re.sub(r"\s+", " ", page.locator(".stats").inner_text()))
        page.screenshot(path=SHOTS / "desk-02-batch.png", full_page=True)

        started = time.monotonic()
        while True:
            page.goto(args.base + "/desk/activation/?status=pending")
            if count(page) == 0 or time.monotonic() - started > 300:
                break
            time.sleep(3)
        print(f"worker finished in {time.monotonic() - started:.0f} s")
        page.goto(args.base + "/desk/activation/?status=activated")
        print("activated:", count(page))
        page.screenshot(path=SHOTS / "desk-03-activated.png")
        with page.expect_download() as download:
            page.click("text=导出列表")
        rows = list(
            load_workbook(io.BytesIO(download.value.path().read_bytes())).active.iter_rows(
                values_only=True
            )
        )
        print("export rows (without header):", len(rows) - 1)
        page.goto(args.base + "/desk/")
        page.screenshot(path=SHOTS / "desk-04-desk.png", full_page=True)

        page.context.clear_cookies()
        login(page, args.base, "handler_pudong", args.password)
        page.goto(args.base + "/desk/activation/")
        print("handler_pudong sees:", count(page))
        browser.close()


if __name__ == "__main__":
    main()
