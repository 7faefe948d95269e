"""The journeys' accessibility check is not a formality: it fails a page that excludes people."""

import re

import pytest
from playwright.sync_api import Page

from e2e.conftest import log_in
from e2e.journey import Journey, Outbox


def test_accessibility_check_fails_a_page_with_a_critical_violation(page: Page, journey: Journey):
    page.set_content(
        '<html lang="zh-Hans"><head><title>t</title></head><body><main>'
        '<h1>上传</h1><button type="button"></button></main></body></html>'
    )
    with pytest.raises(AssertionError, match="critical button-name"):
        journey.check(page, "unlabelled-button")


def test_accessibility_check_passes_moderate_findings(page: Page, journey: Journey):
    page.set_content(
        '<html lang="zh-Hans"><head><title>t</title></head><body><p>无主区域</p></body></html>'
    )
    journey.check(page, "no-main-landmark")  # landmark-one-main is moderate: reported, not failed


# --- every page of every persona (issue 13) ---------------------------------------------------
# The pages each persona reaches by GET from the menus (the journeys check the pages in between:
# uploads, batches, the student's flow and results).

PUBLIC_PAGES = [
    "/student/",
    "/student/identify/",
    "/student/benefits/",
    "/student/benefits/estimate/",
    "/student/benefits/questions/",
    "/accounts/login/",
    "/student/no-such-page/",  # the 404 page
]
STAFF_PAGES = [
    "/enrollment/",
    "/enrollment/uploads/new/",
    "/enrollment/records/",
    "/enrollment/records/new/",
    "/desk/",
    "/desk/activation/",
    "/desk/batch/upload/",
    "/desk/query/",
    "/accounts/two-factor/",
    "/audit/",  # the 403 page for filers
]
STAFF = [
    "filer1012",
    "filer1014",
    "handler_minhang",
    "handler_xuhui",
    "handler_pudong",
    "cityadmin",
]


def step_name(path: str) -> str:
    return path.strip("/").replace("/", "-") or "root"


def test_every_public_page_passes_the_accessibility_check(page: Page, journey: Journey):
    for path in PUBLIC_PAGES:
        page.goto(path)
        journey.check(page, step_name(path))


@pytest.mark.parametrize("username", STAFF)
def test_every_staff_page_passes_the_accessibility_check(
    page: Page, journey: Journey, username: str
):
    log_in(page, journey, username)
    for path in STAFF_PAGES + (["/admin/"] if username == "cityadmin" else []):
        page.goto(path)
        journey.check(page, step_name(path))


def test_every_page_of_a_signed_in_student_passes_the_accessibility_check(
    page: Page, journey: Journey, outbox: Outbox, demo_students
):
    # seed_demo's student confirmed on their behalf in September, now in a waiting period.
    student = next(s for s in demo_students.values() if "待遇等待期至" in s.outcome)
    page.goto("/student/identify/")
    journey.check(page, "identify")
    page.fill("#id_name", student.name)
    page.fill("#id_id_number", student.id_number)
    sent_after = outbox.mark()
    page.click("button:has-text('获取验证码')")
    page.wait_for_url("**/student/verify/")
    journey.check(page, "code")
    page.fill("#id_code", outbox.code_for(student.row["联系电话"], after=sent_after))
    page.click("button:has-text('验证并继续')")
    page.wait_for_url(re.compile(r"/student/applications/\d+/$"))  # 立即办理 routes to it
    journey.check(page, "result")
    for path in ["/student/", "/student/applications/", "/student/benefits/"]:
        page.goto(path)
        journey.check(page, step_name(path))
    page.goto("/student/benefits/estimate/")
    page.check("input[name=visit_kind][value=campus_clinic]")
    page.fill("#id_covered_costs", "300")
    page.click("button[type=submit]:has-text('计算')")
    page.wait_for_load_state("load")
    journey.check(page, "estimate-answer")
    page.goto("/student/benefits/questions/?q=医保码")
    journey.check(page, "questions-search")
