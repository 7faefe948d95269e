"""The desk as a picture (issue 13): the SVG charts' pure functions, and the desk drawing them."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from desk import charts, pictures
from desk.selectors import PROGRESS_COUNTS


def segments(**counts: int) -> list[charts.Segment]:
    return [charts.Segment(s, counts.get(s.key, 0)) for s in charts.PROGRESS_SERIES]


def test_segment_widths_fill_the_bar_and_keep_a_single_student_visible():
    widths = charts.segment_widths([1, 0, 998, 1], 480)
    assert sum(widths) == pytest.approx(480)
    assert widths[0] >= 2 and widths[3] >= 2 and widths[1] == 0


def test_segment_widths_of_an_empty_campus_are_zero():
    assert charts.segment_widths([0, 0, 0], 480) == [0, 0, 0]


@pytest.mark.parametrize(
    ("part", "whole", "shown"),
    [(0, 0, "—"), (0, 10, "0%"), (1, 300, "0.3%"), (1, 3, "33%"), (2, 3, "67%"), (5, 5, "100%")],
)
def test_percent_as_the_desk_writes_it(part, whole, shown):
    assert charts.percent(part, whole) == shown


@pytest.mark.parametrize(("value", "top"), [(0, 1), (1, 1), (3, 5), (7, 10), (12, 20), (480, 500)])
def test_axis_top_is_a_round_number_at_or_above_the_largest(value, top):
    assert charts.nice_ceiling(value) == top


def test_campus_bar_names_every_segment_with_its_number_for_screen_readers():
    svg = charts.stacked_bar(
        segments(created=12, pending=3, unconfirmed=40), chart_id="bar-101200", title="101200"
    )
    assert 'role="img"' in svg
    label = re.search(r'aria-label="([^"]*)"', svg).group(1)
    assert label == "101200：名单 55 人，建账成功 12，建账中 3，未确认 40"
    assert "<title>101200：名单 55 人" in svg


def test_campus_bar_tells_segments_apart_without_colour():
    svg = charts.stacked_bar(
        segments(created=5, waiting=5, pending=5, failed=5, elsewhere=5, unconfirmed=5),
        chart_id="b",
        title="t",
    )
    fills = re.findall(r'fill="url\(#(b-[a-z]+)\)"', svg)
    assert len(set(fills)) == 6  # a pattern each
    marks = re.findall(r'<pattern id="b-[a-z]+"[^>]*>(.*?)</pattern>', svg)
    assert len(set(marks)) == 6  # and the patterns differ in shape, not only in colour
    for count in ("5",):
        assert f">{count}</text>" in svg  # numbers written on the segments


def test_charts_use_no_inline_style_or_script():
    days = charts.fill_days(dt.date(2026, 8, 1), dt.date(2026, 8, 31), {dt.date(2026, 8, 2): 4}, {})
    for svg in (
        charts.stacked_bar(segments(created=1), chart_id="a", title="t"),
        charts.share_bar(1, 2, chart_id="s", title="t"),
        charts.daily_chart(days, chart_id="d", title="t"),
        charts.legend(charts.PROGRESS_SERIES, chart_id="l"),
    ):
        assert "style=" not in svg and "<script" not in svg and "<style" not in svg


def test_chart_titles_are_escaped():
    svg = charts.stacked_bar(segments(created=1), chart_id="a", title='<script>"x"</script>')
    assert "<script>" not in svg


def test_empty_campus_bar_says_nothing_is_uploaded():
    svg = charts.stacked_bar(segments(), chart_id="e", title="101300")
    assert "尚未上传名单" in svg and '<rect x="0.0"' not in svg


def test_share_bar_writes_the_share_out():
    svg = charts.share_bar(699, 1000, chart_id="s", title="闵行区")
    assert "已确认 699 / 名单 1000 人（70%）" in svg
    assert 'width="223.7"' in svg  # 699/1000 of 320


def test_daily_chart_has_a_column_per_day_with_confirmations_and_the_totals_in_words():
    first = dt.date(2026, 8, 1)
    confirmations = {first: 3, dt.date(2026, 9, 1): 7}
    accounts = {dt.date(2026, 9, 1): 6}
    days = charts.fill_days(first, dt.date(2026, 9, 30), confirmations, accounts)
    assert len(days) == 61 and days[31] == charts.Day(dt.date(2026, 9, 1), 7, 6)
    svg = charts.daily_chart(days, chart_id="d", title="1012")
    assert len(re.findall(r'fill="url\(#d-confirmations\)"', svg)) == 2
    label = re.search(r'aria-label="([^"]*)"', svg).group(1)
    assert label == ("1012：8月1日至9月30日，确认 10 人次，建账成功 6 人；单日确认最多 7（9月1日）")
    assert ">9月1日</text>" in svg  # the month's first day marked on the axis


def test_daily_chart_before_the_window_opens_says_so():
    svg = charts.daily_chart([], chart_id="d", title="t")
    assert "确认尚未开始" in svg


def progress_row(code: str, school_id: int, **counts: int) -> dict:
    row = {
        "campus_id": int(code),
        "school_id": school_id,
        "campus__code": code,
        "campus__name": "校区",
        "school__code": code[:4],
        "school__name": "学校",
        "campus__district__name": "闵行区",
    }
    return {**row, **dict.fromkeys(PROGRESS_COUNTS, 0), **counts}


def test_share_confirmed_counts_everyone_but_the_unconfirmed():
    rows = [
        progress_row("101200", 1, uploaded=10, created=4, failed=1, unconfirmed=5),
        progress_row("101201", 1, uploaded=6, elsewhere=1, unconfirmed=5),
    ]
    assert pictures.confirmed(rows) == (6, 16)


def test_pictures_draw_the_scope_and_each_school_when_there_are_several():
    rows = [
        progress_row("101200", 1, uploaded=10, unconfirmed=10),
        progress_row("101400", 2, uploaded=4, created=4),
    ]
    activity = {2: ({dt.date(2026, 9, 1): 4}, {dt.date(2026, 9, 1): 4})}

    class Year:
        opens_on = dt.date(2026, 8, 1)
        last_open_day = dt.date(2027, 1, 1)

    drawn = pictures.desk_pictures(
        rows, activity, policy_year=Year, scope="闵行区", today=dt.date(2026, 9, 2)
    )
    assert drawn["scope"]["title"] == "闵行区"
    assert (drawn["scope"]["confirmed"], drawn["scope"]["roster"]) == (4, 14)
    assert [area["title"] for area in drawn["schools"]] == ["1012 学校", "1014 学校"]
    assert "确认 4 人次" in drawn["scope"]["daily"]
    assert len(drawn["campuses"]) == 2


# --- the desk draws them --------------------------------------------------------------------------


@pytest.mark.django_db
def test_desk_draws_a_bar_for_every_campus_even_with_nothing_uploaded(
    client, handler_xuhui, stored_1012, policy_year
):
    client.force_login(handler_xuhui)
    response = client.get(reverse("desk:desk"))
    html = response.content.decode()
    codes = [row["campus__code"] for row in response.context["progress"]]
    assert "101300" in codes
    for code in codes:
        assert f'<pattern id="bar-{code}-created"' in html
    assert "101300 学校" not in html  # real names, not the test's
    assert "尚未上传名单" in html
    assert re.search(r'<svg class="chart chart-daily"[^>]*aria-label="[^"]*确认 0 人次', html)
    assert "style=" not in re.sub(r"<link[^>]*>", "", html.split("<main>")[1])
    csp = response.headers.get("Content-Security-Policy", "")
    assert "unsafe-inline" not in csp
