"""The desk as a picture: inline SVG drawn on the server (no third-party script; the content
security policy stays strict: presentation attributes such as fill=, never style=).

Each chart reads without colour: every series has its own pattern, numbers are written out,
and the SVG carries a <title> and an aria-label for screen readers. Pure functions of plain
numbers, tested directly.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Series:
    """How one kind of count is drawn: its label, and a pattern that tells it apart in grey."""

    key: str
    label: str
    background: str
    ink: str
    mark: str  # "solid", "dots", "diagonal", "cross", "horizontal", "back-diagonal"


# The campus bar's segments, in the order a student moves through them (left to right).
PROGRESS_SERIES = (
    Series("created", "建账成功", "#1b7f3b", "#1b7f3b", "solid"),
    Series("waiting", "待遇等待期", "#d7f0dc", "#1b7f3b", "dots"),
    Series("pending", "建账中", "#dbe8fb", "#1d4ed8", "diagonal"),
    Series("failed", "建账失败", "#fde2e1", "#b42318", "cross"),
    Series("elsewhere", "其他院校已办理", "#eaecf0", "#475467", "horizontal"),
    Series("unconfirmed", "未确认", "#ffffff", "#98a2b3", "back-diagonal"),
)
CONFIRMATIONS = Series("confirmations", "确认（提交申请）", "#dbe8fb", "#1d4ed8", "diagonal")
ACCOUNTS = Series("accounts", "建账成功", "#1b7f3b", "#1b7f3b", "solid")
SHARE = Series("share", "已确认", "#1b7f3b", "#1b7f3b", "solid")


@dataclass(frozen=True)
class Segment:
    series: Series
    count: int


@dataclass(frozen=True)
class Day:
    day: dt.date
    confirmations: int
    accounts: int


def _label(text: str) -> str:
    """An aria-label attribute, escaped."""
    return f'aria-label="{escape(text)}"'


def _pattern(prefix: str, series: Series) -> str:
    """A 6×6 tile: the series' background and its mark in its ink."""
    pid = f"{prefix}-{series.key}"
    marks = {
        "solid": "",
        "dots": f'<circle cx="3" cy="3" r="1.3" fill="{series.ink}"/>',
        "diagonal": f'<path d="M-1,7 L7,-1" stroke="{series.ink}" stroke-width="1.4"/>',
        "back-diagonal": f'<path d="M-1,-1 L7,7" stroke="{series.ink}" stroke-width="1"/>',
        "cross": (f'<path d="M-1,7 L7,-1 M-1,-1 L7,7" stroke="{series.ink}" stroke-width="1"/>'),
        "horizontal": f'<path d="M0,3 L6,3" stroke="{series.ink}" stroke-width="1.2"/>',
    }
    return (
        f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse">'
        f'<rect width="6" height="6" fill="{series.background}"/>{marks[series.mark]}</pattern>'
    )


def _defs(prefix: str, series: tuple[Series, ...] | list[Series]) -> str:
    return "<defs>" + "".join(_pattern(prefix, s) for s in series) + "</defs>"


def percent(part: int, whole: int) -> str:
    """A share as the desk writes it: whole percent, one decimal under 10 %, "—" of nothing."""
    if whole <= 0:
        return "—"
    value = 100 * part / whole
    if 0 < value < 10:
        return f"{value:.1f}%"
    return f"{math.floor(value + 0.5)}%"


def segment_widths(counts: list[int], width: float) -> list[float]:
    """Widths of a stacked bar's segments, adding up to `width` (nothing drawn for nothing),
    and any non-zero count at least 2 px wide so it is never invisible."""
    total = sum(counts)
    if total <= 0:
        return [0.0 for _ in counts]
    widths = [max(2.0, width * count / total) if count else 0.0 for count in counts]
    excess = sum(widths) - width
    if excess > 0:  # the minimum widths took room: take it back from the widest
        widest = widths.index(max(widths))
        widths[widest] -= excess
    return widths


def describe(segments: list[Segment]) -> str:
    """The bar in words: every segment with its number (zeros left out)."""
    parts = [f"{s.series.label} {s.count}" for s in segments if s.count]
    return "，".join(parts) if parts else "尚未上传名单"


def stacked_bar(
    segments: list[Segment], *, chart_id: str, title: str, width: int = 320
) -> SafeString:
    """One campus's students as a stacked horizontal bar, numbers written on segments wide
    enough to hold them (the caption beside the bar gives them all)."""
    height = 22
    total = sum(s.count for s in segments)
    summary = f"{title}：名单 {total} 人，{describe(segments)}"
    parts = [
        f'<svg class="chart chart-bar" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" {_label(summary)}>',
        f"<title>{escape(summary)}</title>",
        _defs(chart_id, [s.series for s in segments]),
    ]
    if total == 0:
        parts.append(
            f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="#ffffff" '
            'stroke="#98a2b3" stroke-dasharray="4 3"/>'
            f'<text x="8" y="15">{escape("尚未上传名单")}</text>'
        )
    x = 0.0
    for segment, w in zip(
        segments, segment_widths([s.count for s in segments], width), strict=True
    ):
        if not w:
            continue
        label = f"{segment.series.label} {segment.count}"
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" '
            f'fill="url(#{chart_id}-{segment.series.key})" stroke="#ffffff" stroke-width="1">'
            f"<title>{escape(label)}</title></rect>"
        )
        digits = len(str(segment.count))
        box = 8 * digits + 6
        if w >= box + 4:
            cx = x + w / 2
            parts.append(
                f'<rect x="{cx - box / 2:.1f}" y="4" width="{box}" height="14" rx="3" '
                'fill="#ffffff" fill-opacity="0.9"/>'
                f'<text x="{cx:.1f}" y="15" text-anchor="middle">{segment.count}</text>'
            )
        x += w
    parts.append("</svg>")
    return mark_safe("".join(parts))


def legend(series: tuple[Series, ...] | list[Series], *, chart_id: str) -> SafeString:
    """Swatches with the series' patterns and names (shown once above a set of bars)."""
    items = []
    for s in series:
        items.append(
            f'<span><svg width="18" height="12" viewBox="0 0 18 12" aria-hidden="true">'
            f"{_defs(chart_id, [s])}"
            f'<rect width="18" height="12" fill="url(#{chart_id}-{s.key})" stroke="#667085" '
            f'stroke-width="0.5"/></svg> {escape(s.label)}</span>'
        )
    return mark_safe(f'<div class="chart-legend">{"".join(items)}</div>')


def share_bar(
    confirmed: int, roster: int, *, chart_id: str, title: str, width: int = 320
) -> SafeString:
    """The share of the roster that has confirmed, as a filled bar with the numbers on it."""
    height = 26
    text = f"已确认 {confirmed} / 名单 {roster} 人（{percent(confirmed, roster)}）"
    filled = width * confirmed / roster if roster > 0 else 0
    return mark_safe(
        f'<svg class="chart chart-share" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" {_label(f"{title}：{text}")}>'
        f"<title>{escape(f'{title}：{text}')}</title>"
        f"{_defs(chart_id, [SHARE])}"
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="#ffffff" '
        'stroke="#667085"/>'
        f'<rect x="0" y="0" width="{filled:.1f}" height="{height}" fill="url(#{chart_id}-share)"/>'
        f'<rect x="6" y="5" width="{min(width - 12, len(text) * 10)}" height="16" rx="3" fill="#ffffff" '
        'fill-opacity="0.9"/>'
        f'<text x="10" y="18">{escape(text)}</text></svg>'
    )


def nice_ceiling(value: int) -> int:
    """The y axis's top: 1, 2, 5 × a power of ten, at or above the largest value."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop ends at 10 × power


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def fill_days(
    first: dt.date, last: dt.date, confirmations: dict[dt.date, int], accounts: dict[dt.date, int]
) -> list[Day]:
    """One Day for each day from the window's opening to today, zeros where nothing happened."""
    if last < first:
        return []
    return [
        Day(day, confirmations.get(day, 0), accounts.get(day, 0))
        for day in days_between(first, last)
    ]


def daily_chart(days: list[Day], *, chart_id: str, title: str, width: int = 720) -> SafeString:
    """Confirmations per day as hatched columns and accounts per day as a line with square
    marks, from the window's opening to today."""
    height, left, right, top, bottom = 200, 40, 8, 10, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    confirmed = sum(d.confirmations for d in days)
    created = sum(d.accounts for d in days)
    if days:
        span = (
            f"{days[0].day.month}月{days[0].day.day}日至{days[-1].day.month}月{days[-1].day.day}日"
        )
    else:
        span = "确认尚未开始"
    summary = f"{title}：{span}，确认 {confirmed} 人次，建账成功 {created} 人"
    if days and confirmed:
        busiest = max(days, key=lambda d: d.confirmations)
        summary += (
            f"；单日确认最多 {busiest.confirmations}（{busiest.day.month}月{busiest.day.day}日）"
        )
    top_value = nice_ceiling(
        max([d.confirmations for d in days] + [d.accounts for d in days] + [0])
    )
    parts = [
        f'<svg class="chart chart-daily" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" {_label(summary)}>',
        f"<title>{escape(summary)}</title>",
        _defs(chart_id, [CONFIRMATIONS, ACCOUNTS]),
    ]

    def y(value: float) -> float:
        return top + plot_h - plot_h * value / top_value

    for tick in (0, top_value / 2, top_value):
        label = f"{tick:g}"
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#eaecf0"/>'
            f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">{label}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}"/>'
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
        f'y2="{top + plot_h}"/>'
    )
    step = plot_w / len(days) if days else plot_w
    points = []
    for index, d in enumerate(days):
        x = left + index * step
        if d.confirmations:
            bar_w = max(1.0, step * 0.8)
            parts.append(
                f'<rect x="{x + (step - bar_w) / 2:.1f}" y="{y(d.confirmations):.1f}" '
                f'width="{bar_w:.1f}" height="{top + plot_h - y(d.confirmations):.1f}" '
                f'fill="url(#{chart_id}-confirmations)" stroke="#1d4ed8" stroke-width="0.5">'
                f"<title>{d.day.month}月{d.day.day}日：确认 {d.confirmations}，建账成功 "
                f"{d.accounts}</title></rect>"
            )
        points.append((x + step / 2, y(d.accounts)))
        if d.day.day == 1 or index == 0:
            parts.append(
                f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" '
                f'y2="{top + plot_h + 4}"/>'
                f'<text x="{x:.1f}" y="{height - 10}">{d.day.month}月{d.day.day}日</text>'
            )
    if points:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1b7f3b" stroke-width="1.5"/>')
        for (px, py), d in zip(points, days, strict=True):
            if d.accounts:
                parts.append(
                    f'<rect x="{px - 2.5:.1f}" y="{py - 2.5:.1f}" width="5" height="5" '
                    'fill="#1b7f3b"/>'
                )
    if not days:
        parts.append(f'<text x="{left + 10}" y="{top + plot_h / 2}">{escape(span)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def daily_legend(*, chart_id: str) -> SafeString:
    """The daily chart's key: hatched columns for confirmations, a marked line for accounts."""
    return mark_safe(
        '<div class="chart-legend">'
        f'<span><svg width="18" height="12" viewBox="0 0 18 12" aria-hidden="true">'
        f"{_defs(chart_id, [CONFIRMATIONS])}"
        f'<rect width="18" height="12" fill="url(#{chart_id}-confirmations)" stroke="#1d4ed8" '
        f'stroke-width="0.5"/></svg> {escape("每日确认（柱）")}</span>'
        '<span><svg width="18" height="12" viewBox="0 0 18 12" aria-hidden="true">'
        '<path d="M0,6 L18,6" stroke="#1b7f3b" stroke-width="1.5"/>'
        '<rect x="6.5" y="3.5" width="5" height="5" fill="#1b7f3b"/></svg> '
        f"{escape('每日建账成功（带方点的线）')}</span></div>"
    )
