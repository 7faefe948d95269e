"""The desk's pictures from its numbers: a bar per campus; for the scope (the district, the
city) and each school, the share confirmed and a day-by-day chart. No database here: the desk
view passes the progress rows and the daily activity it already read."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from desk import charts

SCHOOL_CHARTS_LIMIT = 30


def campus_segments(row: dict) -> list[charts.Segment]:
    return [charts.Segment(series, row[series.key]) for series in charts.PROGRESS_SERIES]


def confirmed(rows: list[dict]) -> tuple[int, int]:
    """(confirmed, on the roster): everyone on the roster but the desk's 未确认."""
    roster = sum(row["uploaded"] for row in rows)
    return roster - sum(row["unconfirmed"] for row in rows), roster


def _area(
    title: str,
    key: str,
    rows: list[dict],
    activity: tuple[dict, dict],
    *,
    first: dt.date | None,
    last: dt.date,
) -> dict:
    done, roster = confirmed(rows)
    days = charts.fill_days(first, last, *activity) if first else []
    return {
        "title": title,
        "share": charts.share_bar(done, roster, chart_id=f"share-{key}", title=title),
        "daily": charts.daily_chart(days, chart_id=f"daily-{key}", title=title),
        "legend": charts.daily_legend(chart_id=f"key-{key}"),
        "confirmed": done,
        "roster": roster,
        "percent": charts.percent(done, roster),
    }


def desk_pictures(
    progress: list[dict],
    activity: dict[int, tuple[dict, dict]],
    *,
    policy_year: object | None,
    scope: str,
    today: dt.date | None = None,
) -> dict:
    """Everything the desk draws: `campuses` (a bar each), `areas` (the scope first, then each
    school when there are several)."""
    today = today or timezone.localdate()
    first = policy_year.opens_on if policy_year is not None else None
    last = min(today, policy_year.last_open_day) if policy_year is not None else today
    campuses = [
        {
            "row": row,
            "bar": charts.stacked_bar(
                campus_segments(row),
                chart_id=f"bar-{row['campus__code']}",
                title=f"{row['campus__code']} {row['school__name']} · {row['campus__name']}",
            ),
            "caption": charts.describe(campus_segments(row)),
        }
        for row in progress
    ]
    schools: dict[int, list[dict]] = {}
    for row in progress:
        schools.setdefault(row["school_id"], []).append(row)
    merged: tuple[dict, dict] = ({}, {})
    for confirmations, accounts in activity.values():
        for day, n in confirmations.items():
            merged[0][day] = merged[0].get(day, 0) + n
        for day, n in accounts.items():
            merged[1][day] = merged[1].get(day, 0) + n
    if len(schools) == 1:
        rows = next(iter(schools.values()))
        title = f"{rows[0]['school__code']} {rows[0]['school__name']}"
        areas = [_area(title, "scope", rows, merged, first=first, last=last)]
    else:
        areas = [_area(scope, "scope", progress, merged, first=first, last=last)]
        for school_id, rows in list(schools.items())[:SCHOOL_CHARTS_LIMIT]:
            title = f"{rows[0]['school__code']} {rows[0]['school__name']}"
            areas.append(
                _area(
                    title,
                    rows[0]["school__code"],
                    rows,
                    activity.get(school_id, ({}, {})),
                    first=first,
                    last=last,
                )
            )
    return {
        "legend": charts.legend(charts.PROGRESS_SERIES, chart_id="legend"),
        "campuses": campuses,
        "scope": areas[0] if areas else None,
        "schools": areas[1:],
        "schools_cut": max(0, len(schools) - SCHOOL_CHARTS_LIMIT) if len(schools) > 1 else 0,
    }
