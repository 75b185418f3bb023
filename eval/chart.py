"""The evaluation chart, written as SVG by hand: grouped bars of the main measures per configuration and,
with several language pairs, nDCG@10 per pair. No plotting library: matplotlib and its dependencies were
a seventh of the service image (docs/deployment.md), for one chart."""

from __future__ import annotations

from html import escape
from pathlib import Path

from eval.measures import MAIN_MEASURES

# Tableau's ten colours (matplotlib's default cycle): configurations keep the colours they had as PNGs.
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
PANEL_H, TOP, BOTTOM, LEFT, RIGHT = 300, 40, 70, 45, 15


def _panel(x0: float, width: float, title: str, groups: list[str], series: dict[str, list[float]]) -> list[str]:
    """One bar panel: a group of bars (one per series) for each label in `groups`; values within 0..1."""
    plot_w = width - LEFT - RIGHT
    y_of = lambda v: TOP + PANEL_H * (1 - min(max(v, 0.0), 1.0))  # noqa: E731 - a local scale
    out = [f'<text x="{x0 + width / 2:.1f}" y="{TOP - 15}" text-anchor="middle" font-size="13">{escape(title)}</text>']
    for tick in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        y = y_of(tick)
        out.append(f'<line x1="{x0 + LEFT}" x2="{x0 + width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{x0 + LEFT - 5}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{tick:.1f}</text>')
    slot = plot_w / max(1, len(groups))
    bar = 0.8 * slot / max(1, len(series))
    for g, label in enumerate(groups):
        left = x0 + LEFT + g * slot + 0.1 * slot
        for s, (name, values) in enumerate(series.items()):
            value = values[g]
            y = y_of(value)
            out.append(f'<rect x="{left + s * bar:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{TOP + PANEL_H - y:.1f}" '
                       f'fill="{COLOURS[s % len(COLOURS)]}"><title>{escape(name)} {escape(label)}: {value:.4f}'
                       f'</title></rect>')
        cx, cy = x0 + LEFT + (g + 0.5) * slot, TOP + PANEL_H + 14
        rotate = f' transform="rotate(-45 {cx:.1f} {cy})"' if len(groups) > 4 else ""
        anchor = "end" if rotate else "middle"
        out.append(f'<text x="{cx:.1f}" y="{cy}" text-anchor="{anchor}" font-size="10"{rotate}>{escape(label)}</text>')
    out.append(f'<line x1="{x0 + LEFT}" x2="{x0 + LEFT}" y1="{TOP}" y2="{TOP + PANEL_H}" stroke="#333"/>')
    return out


def render_chart(rows: dict[str, dict[str, float]], per_pair: dict[str, dict[str, float]] | None, path: Path,
                 title: str) -> None:
    """Bars of the main measures per config and, with several language pairs, nDCG@10 per pair."""
    names = list(rows)
    pairs = sorted(next(iter(per_pair.values()), {})) if per_pair else []
    first_w = 160 + 70 * len(MAIN_MEASURES) * max(1, len(names)) // 2
    parts = _panel(0, first_w, title, MAIN_MEASURES, {n: [rows[n][m] for m in MAIN_MEASURES] for n in names})
    width = first_w
    if per_pair and len(pairs) > 1:
        second_w = 120 + 18 * len(pairs) * max(1, len(names))
        parts += _panel(first_w, second_w, "nDCG@10 per language pair", pairs,
                        {n: [per_pair[n].get(p, 0.0) for p in pairs] for n in names})
        width += second_w
    legend_y = TOP + PANEL_H + BOTTOM
    for s, name in enumerate(names):
        y = legend_y + 16 * s
        parts.append(f'<rect x="{LEFT}" y="{y - 9}" width="12" height="10" fill="{COLOURS[s % len(COLOURS)]}"/>')
        parts.append(f'<text x="{LEFT + 18}" y="{y}" font-size="11">{escape(name)}</text>')
    height = legend_y + 16 * len(names) + 10
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif">\n'
           f'<rect width="{width}" height="{height}" fill="white"/>\n' + "\n".join(parts) + "\n</svg>\n")
    path.write_text(svg, encoding="utf-8")
