"""The page fixture notices what the Content-Security-Policy blocks (review 12)."""

from __future__ import annotations

from playwright.sync_api import Page

from e2e.journey import Journey


def test_an_inline_style_the_policy_blocks_is_reported(
    page: Page, journey: Journey, csp_violations: list[str]
):
    page.goto("/accounts/login/")
    journey.check(page, "login")
    # Added the way a template's style="" would be: the policy refuses to apply it.
    page.evaluate(
        "() => { document.body.insertAdjacentHTML('beforeend', '<p style=\"color:red\">x</p>'); }"
    )
    page.wait_for_timeout(500)
    assert any("style-src" in violation for violation in csp_violations), csp_violations
    csp_violations.clear()  # seen as expected: the fixture's own check then passes
