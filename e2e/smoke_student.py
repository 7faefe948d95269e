"""Walk a demo freshman through confirmation on a 360-px phone screen, saving screenshots.

Needs a running `make run` whose console output is saved to a file (the one-time code is
printed there by the development SMS sender):
    make run > run.log 2>&1 &
    python e2e/smoke_student.py --log run.log --name 余佳强 --id 310104200904020013
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright
from smoke_upload import CHROMIUM_ARGS, SHOTS


def latest_code(log: Path, after: int) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = re.findall(r"验证码是 (\d{6})", log.read_bytes()[after:].decode(errors="replace"))
        if found:
            return found[-1]
        time.sleep(0.3)
    raise SystemExit("no one-time code appeared in the log")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--tag", default="student")
    args = parser.parse_args()
    SHOTS.mkdir(exist_ok=True)
    shot = lambda page, n: page.screenshot(path=SHOTS / f"{args.tag}-{n}.png", full_page=True)  # noqa: E731

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        phone = browser.new_context(
            viewport={"width": 360, "height": 740},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
        )
        page = phone.new_page()
        page.goto(args.base + "/student/")
        shot(page, "01-home")
        page.click("text=立即办理")
        page.fill("#id_name", args.name)
        page.fill("#id_id_number", args.id)
        offset = args.log.stat().st_size
        page.click("text=获取验证码")
        page.fill("#id_code", latest_code(args.log, offset))
        shot(page, "02-code")
        page.click("text=验证并继续")
        expect(page.locator("h1")).to_contain_text("核对信息")
        shot(page, "03-record")
        page.click("text=下一步")
        page.check("#id_agree")
        box = page.locator("#signature-pad").bounding_box()
        page.mouse.move(box["x"] + 30, box["y"] + 120)
        page.mouse.down()
        for x, y in [(80, 40), (130, 140), (190, 50), (250, 130), (300, 60)]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
        page.mouse.up()
        shot(page, "04-pledge-signed")
        page.click("button:has-text('提交')")
        expect(page.locator("h1")).to_contain_text("提交成功")
        shot(page, "05-submitted")
        page.click("text=前往办件进度")
        deadline = time.monotonic() + 90
        while "已申请待审核" in page.content() and time.monotonic() < deadline:
            time.sleep(2)
            page.reload()
        shot(page, "06-applications")
        page.click("text=查看结果")
        shot(page, "07-result")
        print(args.tag, "result:", re.sub(r"\s+", " ", page.locator("dl.kv").inner_text()))
        width = page.evaluate("document.documentElement.scrollWidth")
        print(args.tag, "page width at 360 px:", width)
        browser.close()


if __name__ == "__main__":
    main()
