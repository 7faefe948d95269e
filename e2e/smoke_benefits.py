"""Issue #15's pages on a 360-px phone: my benefits, the estimator, the questions; axe-core check.

Not part of `make test`. Needs a running `make run` whose console output is saved to a file
(the one-time code is printed there), and a demo student whose account exists:
    make run > run.log 2>&1 &
    python e2e/smoke_benefits.py --log run.log --name 余佳强 --id 310104200904020013 \
        --axe /tmp/axe/node_modules/axe-core/axe.min.js
`--axe` takes axe.min.js from npm (`npm install axe-core` in a folder outside the repo); any
serious or critical violation, a page wider than 360 px, or a page without exactly one <h1>
and one <main> fails the run. The estimator is also answered once with JavaScript off.
Screenshots go to e2e/screenshots/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright
from smoke_student import latest_code
from smoke_upload import CHROMIUM_ARGS, SHOTS

PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--axe", type=Path, help="axe.min.js; without it, screenshots only")
    args = parser.parse_args()
    SHOTS.mkdir(exist_ok=True)
    axe = args.axe.read_text() if args.axe else None
    problems: list[str] = []

    def check(page, name: str) -> None:
        page.screenshot(path=SHOTS / f"benefits-{name}.png", full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        h1, mains = page.locator("h1").count(), page.locator("main").count()
        if width > 360 or h1 != 1 or mains != 1:
            problems.append(f"{name}: width {width}, {h1} h1, {mains} main")
        if axe:
            page.add_script_tag(content=axe)
            found = page.evaluate("async () => (await axe.run(document)).violations")
            problems.extend(
                f"{name}: {v['id']} ({v['impact']}) {v['help']}"
                for v in found
                if v["impact"] in ("serious", "critical")
            )
        print(f"{name}: checked")

    def estimate(page, kind: int, level: int | None, costs: str, paid: str = "0") -> None:
        page.goto(args.base + "/student/benefits/estimate/")
        page.check(f"#id_visit_kind_{kind}")
        if level is not None:
            page.check(f"#id_hospital_level_{level}")
        page.fill("#id_covered_costs", costs)
        page.fill("#id_deductible_paid", paid)
        page.click("button:has-text('计算')")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", *CHROMIUM_ARGS]
        )
        page = browser.new_context(**PHONE).new_page()
        page.goto(args.base + "/student/")
        check(page, "01-home")
        page.goto(args.base + "/student/benefits/")
        check(page, "02-benefits")
        estimate(page, kind=1, level=1, costs="220")  # the seeds' 220 元 first visit (二级)
        assert "您自付" in page.content()
        check(page, "03-estimate-220")
        estimate(page, kind=2, level=2, costs="-5")  # errors beside the fields
        check(page, "04-estimate-errors")
        page.goto(args.base + "/student/benefits/questions/?q=急诊")
        check(page, "05-questions")

        page.goto(args.base + "/student/identify/?next=/student/benefits/")
        page.fill("#id_name", args.name)
        page.fill("#id_id_number", args.id)
        offset = args.log.stat().st_size
        page.click("text=获取验证码")
        page.fill("#id_code", latest_code(args.log, offset))
        page.click("button[type=submit]")
        page.wait_for_url("**/student/benefits/")
        check(page, "06-my-benefits")
        estimate(page, kind=1, level=1, costs="1000", paid="300")
        check(page, "07-my-estimate")

        no_js = browser.new_context(**PHONE, java_script_enabled=False).new_page()
        estimate(no_js, kind=1, level=1, costs="1000", paid="300")
        if "600 元" not in no_js.content():
            problems.append("estimator without JavaScript: no answer")
        browser.close()

    print("\n".join(problems) or "no serious or critical problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
