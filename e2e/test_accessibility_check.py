"""The journeys' accessibility check is not a formality: it fails a page that excludes people."""

import pytest
from playwright.sync_api import Page

from e2e.journey import Journey


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
