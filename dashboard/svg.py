"""Charts as inline SVG, drawn from a query result and a visualization's Redash options.

The subset of Redash's chart options honoured here is the one the definitions use: ``globalSeriesType``
(line, column), ``columnMapping`` (x, y, series), ``series.stacking``, ``swappedAxes`` (horizontal bars),
``seriesOptions`` (name, color), ``sortX`` and ``legend.enabled``. Every mark carries ``data-series``,
``data-x`` and ``data-y`` so the drawing can be checked against the data, and a ``<title>`` for hovering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from typing import Any

PALETTE = ("#356AFF", "#E8A33D", "#2E9E5B", "#D64545", "#7B4FD6", "#17A2B8", "#F25C9A", "#8A94A6")
FONT = "font-family='system-ui, -apple-system, Segoe UI, Roboto, sans-serif'"
AXIS_COLOR = "#6B7280"
GRID_COLOR = "#E5E7EB"


@dataclass(frozen=True)
class Series:
    key: str
    name: str
    color: str
    values: dict[str, float]  # x label → y


def chart_svg(
    title: str,
    options: dict[str, Any],
    columns: list[dict[str, str]],
    rows: list[dict[str, Any]],
    width: int,
    height: int,
) -> str:
    """One chart visualization as an ``<svg>`` element."""
    categories, series = _series(options, columns, rows)
    swapped = bool(options.get("swappedAxes"))
    kind = "bar" if swapped else str(options.get("globalSeriesType", "line"))
    stacked = bool((options.get("series") or {}).get("stacking"))
    legend = bool((options.get("legend") or {}).get("enabled", len(series) > 1)) and bool(series)
    open_tag = (
        f"<svg class='chart' xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' "
        f"width='{width}' height='{height}' role='img' aria-label='{escape(title, quote=True)}' "
        f"data-visualization='{escape(title, quote=True)}' data-kind='{kind}' "
        f"data-stacked='{str(stacked).lower()}' {FONT}>"
    )
    if not categories or not series:
        return (
            f"{open_tag}<text x='{width / 2}' y='{height / 2}' text-anchor='middle' fill='{AXIS_COLOR}' "
            "font-size='14' class='no-data'>No data in the window</text></svg>"
        )
    parts = [open_tag]
    top = 34 if legend else 12
    if legend:
        parts.append(_legend(series, width))
    if swapped:
        parts += _horizontal_bars(categories, series, width, height, top)
    else:
        parts += _vertical(kind, categories, series, stacked, width, height, top)
    parts.append("</svg>")
    return "".join(parts)


def _series(
    options: dict[str, Any], columns: list[dict[str, str]], rows: list[dict[str, Any]]
) -> tuple[list[str], list[Series]]:
    mapping = options.get("columnMapping") or {}
    x_column = next((c for c, role in mapping.items() if role == "x"), None)
    y_columns = [c for c, role in mapping.items() if role == "y"]
    series_column = next((c for c, role in mapping.items() if role == "series"), None)
    if x_column is None or not y_columns:
        return [], []
    friendly = {c["name"]: c.get("friendly_name") or c["name"] for c in columns}
    series_options = options.get("seriesOptions") or {}
    categories: list[str] = []
    grouped: dict[str, dict[str, float]] = {}
    for row in rows:
        x = row.get(x_column)
        if x is None:
            continue
        x = str(x)
        if x not in categories:
            categories.append(x)
        for y_column in y_columns:
            value = row.get(y_column)
            if value is None:
                continue
            key = str(row.get(series_column)) if series_column else y_column
            values = grouped.setdefault(key, {})
            values[x] = values.get(x, 0.0) + float(value)
    if options.get("sortX", True):
        categories.sort()
    if (options.get("xAxis") or {}).get("type") == "datetime":
        categories = _every_day(categories)
    series = []
    for index, (key, values) in enumerate(grouped.items()):
        option = series_options.get(key) or {}
        series.append(
            Series(
                key=key,
                name=str(option.get("name") or friendly.get(key, key)),
                color=str(option.get("color") or PALETTE[index % len(PALETTE)]),
                values=values,
            )
        )
    return categories, series


def _every_day(categories: list[str]) -> list[str]:
    """A date axis shows every day of its range, so days without a run leave a visible gap."""
    try:
        first, last = date.fromisoformat(categories[0]), date.fromisoformat(categories[-1])
    except (ValueError, IndexError):
        return categories
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _legend(series: list[Series], width: int) -> str:
    parts = ["<g class='legend'>"]
    x = 12.0
    for item in series:
        parts.append(
            f"<g class='legend-item' data-series='{escape(item.key, quote=True)}'>"
            f"<rect x='{x:.1f}' y='10' width='12' height='12' rx='2' fill='{item.color}'/>"
            f"<text x='{x + 17:.1f}' y='20.5' font-size='12' fill='#374151'>{escape(item.name)}</text></g>"
        )
        x += 30 + 7 * len(item.name)
        if x > width - 60:
            break
    parts.append("</g>")
    return "".join(parts)


def _vertical(
    kind: str, categories: list[str], series: list[Series], stacked: bool, width: int, height: int, top: int
) -> list[str]:
    left, right, bottom = 56, 14, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    if stacked:
        peak = max(sum(s.values.get(c, 0.0) for s in series) for c in categories)
    else:
        peak = max(max(s.values.values(), default=0.0) for s in series)
    ticks = _ticks(peak)
    scale = plot_h / ticks[-1] if ticks[-1] else 0.0
    band = plot_w / len(categories)
    parts = _y_grid(ticks, left, top, plot_w, plot_h)
    parts += _x_labels(categories, left, band, top + plot_h)

    def y_of(value: float) -> float:
        return top + plot_h - value * scale

    if kind == "line":
        for item in series:
            points = [
                (left + band * (i + 0.5), y_of(item.values[c]), c, item.values[c])
                for i, c in enumerate(categories)
                if c in item.values
            ]
            parts.append(f"<g class='series' data-series='{escape(item.key, quote=True)}'>")
            parts.append(
                f"<polyline fill='none' stroke='{item.color}' stroke-width='2.5' stroke-linejoin='round' "
                f"points='{' '.join(f'{x:.1f},{y:.1f}' for x, y, _, _ in points)}'/>"
            )
            for x, y, category, value in points:
                parts.append(
                    f"<circle class='point' cx='{x:.1f}' cy='{y:.1f}' r='3.5' fill='{item.color}' "
                    f"data-series='{escape(item.key, quote=True)}' data-x='{escape(category, quote=True)}' "
                    f"data-y='{_number(value)}'><title>{escape(item.name)} · {escape(category)}: "
                    f"{_label(value)}</title></circle>"
                )
            parts.append("</g>")
        return parts

    inner = min(band * 0.72, 64.0 * (1 if stacked else len(series)))
    for i, category in enumerate(categories):
        base = 0.0
        for j, item in enumerate(series):
            if category not in item.values:
                continue
            value = item.values[category]
            if stacked:
                x, bar_w = left + band * i + (band - inner) / 2, inner
                y0, y1 = y_of(base + value), y_of(base)
                base += value
            else:
                bar_w = inner / len(series)
                x = left + band * i + (band - inner) / 2 + j * bar_w
                y0, y1 = y_of(value), y_of(0.0)
            parts.append(_bar(item, category, value, x, y0, bar_w, y1 - y0))
    return parts


def _horizontal_bars(
    categories: list[str], series: list[Series], width: int, height: int, top: int
) -> list[str]:
    label_w = min(200, 16 + 7 * max(len(c) for c in categories))
    left, right, bottom = label_w, 24, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = _ticks(max(max(s.values.values(), default=0.0) for s in series))
    scale = plot_w / ticks[-1] if ticks[-1] else 0.0
    band = plot_h / len(categories)
    inner = min(band * 0.7, 26.0 * len(series))
    parts = []
    for tick in ticks:
        x = left + tick * scale
        parts.append(
            f"<line x1='{x:.1f}' y1='{top}' x2='{x:.1f}' y2='{top + plot_h}' stroke='{GRID_COLOR}'/>"
            f"<text x='{x:.1f}' y='{top + plot_h + 16}' font-size='11' text-anchor='middle' "
            f"fill='{AXIS_COLOR}'>{_label(tick)}</text>"
        )
    for i, category in enumerate(categories):
        y = top + band * i + (band - inner) / 2
        parts.append(
            f"<text x='{left - 8}' y='{y + inner / 2 + 4:.1f}' font-size='12' text-anchor='end' "
            f"fill='#374151'>{escape(category)}</text>"
        )
        for j, item in enumerate(series):
            if category in item.values:
                value = item.values[category]
                bar_h = inner / len(series)
                parts.append(_bar(item, category, value, left, y + j * bar_h, value * scale, bar_h))
                parts.append(
                    f"<text x='{left + value * scale + 5:.1f}' y='{y + j * bar_h + bar_h / 2 + 4:.1f}' "
                    f"font-size='11' fill='#374151'>{_label(value)}</text>"
                )
    return parts


def _bar(item: Series, category: str, value: float, x: float, y: float, w: float, h: float) -> str:
    return (
        f"<rect class='bar' x='{x:.1f}' y='{y:.1f}' width='{max(w, 0):.1f}' height='{max(h, 0):.1f}' "
        f"fill='{item.color}' data-series='{escape(item.key, quote=True)}' "
        f"data-x='{escape(category, quote=True)}' data-y='{_number(value)}'>"
        f"<title>{escape(item.name)} · {escape(category)}: {_label(value)}</title></rect>"
    )


def _y_grid(ticks: list[float], left: int, top: int, plot_w: float, plot_h: float) -> list[str]:
    parts = []
    for tick in ticks:
        y = top + plot_h - (tick / ticks[-1] * plot_h if ticks[-1] else 0.0)
        parts.append(
            f"<line x1='{left}' y1='{y:.1f}' x2='{left + plot_w:.1f}' y2='{y:.1f}' stroke='{GRID_COLOR}'/>"
            f"<text x='{left - 6}' y='{y + 4:.1f}' font-size='11' text-anchor='end' fill='{AXIS_COLOR}'>"
            f"{_label(tick)}</text>"
        )
    return parts


def _x_labels(categories: list[str], left: int, band: float, baseline: float) -> list[str]:
    label_width = 7 * max(len(_short(c)) for c in categories) + 10
    # Every n-th label, so that none overlap; counted from the last, which is always shown.
    step = max(1, math.ceil(label_width / band))
    parts = [
        f"<line x1='{left}' y1='{baseline}' x2='{left + band * len(categories):.1f}' y2='{baseline}' stroke='{AXIS_COLOR}'/>"
    ]
    for i, category in enumerate(categories):
        if (len(categories) - 1 - i) % step:
            continue
        parts.append(
            f"<text x='{left + band * (i + 0.5):.1f}' y='{baseline + 16}' font-size='11' text-anchor='middle' "
            f"fill='{AXIS_COLOR}'>{escape(_short(category))}</text>"
        )
    return parts


def _ticks(peak: float) -> list[float]:
    """Round tick values from 0 to at least ``peak``: 1, 2 or 5 times a power of ten apart."""
    if peak <= 0:
        return [0.0, 1.0]
    raw = peak / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    count = math.ceil(peak / step - 1e-9)
    return [step * n for n in range(count + 1)]


def _short(category: str) -> str:
    # 2026-11-23 → 11-23: the year repeats on every label of a 30-day axis.
    if len(category) == 10 and category[4] == "-" and category[7] == "-":
        return category[5:]
    return category if len(category) <= 18 else category[:17] + "…"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(float(value), 6))


def _label(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"
