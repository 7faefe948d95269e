"""Journey 2: freshmen on a phone identify, choose their school, sign with a finger, and follow
their application until the worker has created the account (or says why it could not)."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import time

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from confirmations.benefits import add_months
from e2e.journey import Journey, Outbox

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}
# The students seed_demo prints, by outcome, and what their result page must say.
OUTCOMES = [
    pytest.param("建账成功", "建账成功", id="account-created"),
    pytest.param(
        "建账失败：相同证件号存在其他医保账户但姓名不同",
        "相同证件号存在其他医保账户但姓名不同",
        id="name-mismatch",
    ),
    pytest.param("建账失败：已参加职工医保", "已参加职工基本医疗保险", id="employee-insurance"),
    # Seed 03: about 30 minutes after confirming, a waiting-period notice, not 建账成功.
    pytest.param("有待遇等待期：断保 1 年", "待遇等待期", id="waiting-period"),
]
# What the result page says to do next, per outcome (confirmations.failures).
NEXT_STEPS = {
    "建账失败：相同证件号存在其他医保账户但姓名不同": "请联系院校医保经办老师核对名单中的姓名",
    "建账失败：已参加职工医保": "请先联系参保地医保部门停止职工医保待遇",
}


@pytest.fixture
def phone(new_context, journey: Journey) -> Page:
    context: BrowserContext = new_context(**PHONE)
    page = context.new_page()
    page.set_default_timeout(20_000)
    return journey.follow(page)


def fits_the_screen(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]


def sign_with_a_finger(page: Page) -> None:
    """Draw on the signature canvas with touch input, as a finger does (not synthetic JS)."""
    canvas = page.locator("#signature-pad")
    canvas.scroll_into_view_if_needed()
    page.evaluate(
        """() => { window.pointerTypes = [];
        document.getElementById('signature-pad').addEventListener(
            'pointermove', (event) => window.pointerTypes.push(event.pointerType)); }"""
    )
    box = canvas.bounding_box()
    stroke = [(0.08, 0.7), (0.25, 0.2), (0.4, 0.8), (0.58, 0.25), (0.75, 0.75), (0.92, 0.3)]
    points = [(box["x"] + box["width"] * x, box["y"] + box["height"] * y) for x, y in stroke]
    session = page.context.new_cdp_session(page)

    def touch(kind: str, x: float | None = None, y: float | None = None) -> None:
        touch_points = [] if x is None else [{"x": x, "y": y, "radiusX": 4, "radiusY": 4}]
        session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touch_points})

    touch("touchStart", *points[0])
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        for step in range(1, 9):
            touch("touchMove", x0 + (x1 - x0) * step / 8, y0 + (y1 - y0) * step / 8)
    touch("touchEnd")
    session.detach()
    assert "touch" in page.evaluate("window.pointerTypes")


def wait_for_the_worker(page: Page, *, timeout: float = 120) -> None:
    """The list refreshes itself every 20 s; a student would pull to refresh sooner."""
    deadline = time.monotonic() + timeout
    while page.locator("text=已申请待审核").count() and time.monotonic() < deadline:
        time.sleep(1)
        page.reload()
    expect(page.locator("text=已申请待审核")).to_have_count(0)


@pytest.mark.parametrize(("outcome", "shown"), OUTCOMES)
def test_student_confirms_on_a_phone_and_sees_the_result(
    phone: Page, journey: Journey, outbox: Outbox, demo_students, also_at_1014, outcome, shown
):
    student = demo_students[outcome]
    page = phone
    page.goto("/student/")
    journey.check(page, "home")
    page.tap("text=立即办理")
    page.wait_for_url("**/student/identify/**")
    journey.check(page, "identify")
    page.fill("#id_name", student.name)
    page.fill("#id_id_number", student.id_number)
    sent_after = outbox.mark()
    page.tap("button:has-text('获取验证码')")
    page.wait_for_url("**/student/verify/**")
    journey.check(page, "code")
    page.fill("#id_code", outbox.code_for(student.row["联系电话"], after=sent_after))
    page.tap("button:has-text('验证并继续')")

    if student is also_at_1014:  # on two schools' rosters: the student chooses
        page.wait_for_url("**/student/school/")
        journey.check(page, "choose-school")
        expect(page.locator("label.choice")).to_have_count(2)
        page.tap("label.choice:has-text('上海某某大学')")
        page.tap("button:has-text('下一步')")
    page.wait_for_url("**/student/record/")
    journey.check(page, "record")
    expect(page.locator("dl.kv").first).to_contain_text("*" + student.name[-1])
    expect(page.locator("body")).not_to_contain_text(student.id_number)
    expect(page.locator("body")).to_contain_text("上海某某大学")
    page.tap("text=下一步")

    page.wait_for_url("**/student/pledge/")
    journey.check(page, "pledge")
    page.tap("#id_agree")
    sign_with_a_finger(page)
    expect(page.locator("#sign-hint")).to_be_hidden()
    journey.check(page, "pledge-signed")
    fits_the_screen(page)
    page.tap("button:has-text('提交')")

    page.wait_for_url("**/submitted/")
    journey.check(page, "submitted")
    page.tap("text=前往办件进度")
    page.wait_for_url("**/student/applications/")
    wait_for_the_worker(page)
    journey.check(page, "applications")
    page.tap("text=查看结果")
    page.wait_for_url(re.compile(r"/student/applications/\d+/$"))
    journey.check(page, "result")
    fits_the_screen(page)
    result = page.locator("dl.kv")
    expect(result).to_contain_text(shown)
    if outcome == "建账成功":
        # domain §6: from the registration date (1 September if earlier) to 31 December
        registered = dt.datetime.strptime(student.row["报到注册日期"], "%Y%m%d").date()
        start = max(registered, registered.replace(month=9, day=1))
        end = registered.replace(month=12, day=31)
        expect(result).to_contain_text(f"{start:%Y-%m-%d} 至 {end:%Y-%m-%d}")
    elif outcome.startswith("有待遇等待期"):
        # Seed 03: 3 months for a year without coverage, from today's confirmation; the account
        # (and the result) the day after it ends.
        today = dt.date.today()
        waiting_until = add_months(today, 3) - dt.timedelta(days=1)
        expect(result).not_to_contain_text("建账成功")
        expect(result).to_contain_text(f"至 {waiting_until:%Y-%m-%d}")
        expect(result).to_contain_text(f"{waiting_until + dt.timedelta(days=1):%Y-%m-%d}")
        # 立即办理 goes back to the waiting notice, not into a new flow.
        page.goto("/student/start/")
        expect(page.locator("h1")).to_have_text("待遇等待期")
    else:
        expect(result).to_contain_text("建账失败")
        expect(result).to_contain_text(NEXT_STEPS[outcome])
        # 立即办理 goes back to the result page, not into a new flow.
        page.goto("/student/start/")
        expect(page.locator("dl.kv")).to_contain_text("建账失败")
