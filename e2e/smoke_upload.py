"""Click through issue #3 as a filer would, in headless Chromium, saving screenshots.

Not part of `make test` (it needs a running `make run` and a browser):
    pip install playwright   # the Python package only; the browser is Debian's chromium
    python e2e/smoke_upload.py --base http://127.0.0.1:8000 --roster var/demo/1012-新生名单-2026.xlsx
Screenshots go to e2e/screenshots/.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

SHOTS = Path(__file__).parent / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--roster", required=True, type=Path)
    parser.add_argument("--bad-roster", type=Path, help="a roster with errors, to see the preview")
    parser.add_argument("--password", default="demo-2026")
    args = parser.parse_args()
    SHOTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page.goto(args.base + "/")
        page.fill("#id_username", "filer1012")
        page.fill("#id_password", args.password)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_contain_text("工作台")
        page.screenshot(path=SHOTS / "01-dashboard.png", full_page=True)

        with page.expect_download() as download:
            page.click("text=下载导入模板")
        print("template:", download.value.suggested_filename)

        for label, roster in (("bad", args.bad_roster), ("good", args.roster)):
            if roster is None:
                continue
            page.goto(args.base + "/enrollment/uploads/new/")
            page.select_option("#id_school", label="1012 上海某某大学")
            page.set_input_files("#id_file", str(roster))
            page.screenshot(path=SHOTS / f"02-upload-form-{label}.png", full_page=True)
            page.click("text=上传并检查")
            expect(page.locator(".stats")).to_be_visible(timeout=60_000)
            page.screenshot(path=SHOTS / f"03-preview-{label}.png", full_page=True)
            print(label, "preview:", re.sub(r"\s+", " ", page.locator(".stats").inner_text()))

        page.click("button:has-text('提交')")
        expect(page.locator("text=已提交。")).to_be_visible(timeout=60_000)
        page.screenshot(path=SHOTS / "04-committed.png", full_page=True)
        print("committed:", re.sub(r"\s+", " ", page.locator(".stats").inner_text()))

        page.goto(args.base + "/enrollment/records/")
        page.screenshot(path=SHOTS / "05-records.png", full_page=True)
        print("records:", page.locator(".pagination span").first.inner_text())
        browser.close()


if __name__ == "__main__":
    main()
