"""The results as a terminal table, a Markdown table and PNG plots."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def _target(row: Row) -> str:
    return f"{row['target_op']} {row['target']:g}x" if row.get("target") is not None else ""


def _met(row: Row) -> str:
    return {True: "yes", False: "NO", None: ""}[row.get("met")]


COLUMNS = ("figure", "value", "unit", "baseline", "baseline value", "ratio", "target", "met", "client CPU")


def _cells(row: Row) -> list[str]:
    cpu = row.get("client_cpu_percent")
    return [
        row["name"],
        _number(row["value"]),
        row["unit"],
        row["baseline_name"],
        _number(row["baseline"]),
        _number(row["ratio"]),
        _target(row),
        _met(row),
        "" if cpu is None else f"{cpu:.0f}%",
    ]


def text_table(rows: list[Row]) -> str:
    cells = [list(COLUMNS)] + [_cells(row) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(rows: list[Row]) -> str:
    by_group: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_group[row["group"]].append(row)
    parts: list[str] = []
    for group, members in by_group.items():
        parts += [f"### {group}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        parts += ["| " + " | ".join(_cells(row)) + " |" for row in members]
        parts.append("")
    return "\n".join(parts)


def plots(rows: list[Row], directory: Path) -> list[Path]:
    """One bar chart per group: the service's value beside its floor or peer, per figure."""
    import matplotlib  # noqa: PLC0415 - the bench extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    by_group: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row["unit"] != "recall":
            by_group[row["group"]].append(row)
    written: list[Path] = []
    for group, members in by_group.items():
        figure, axis = plt.subplots(figsize=(max(6.0, 1.3 * len(members)), 4.5))
        positions = range(len(members))
        axis.bar([p - 0.2 for p in positions], [r["value"] for r in members], width=0.4, label="service")
        axis.bar(
            [p + 0.2 for p in positions],
            [r["baseline"] or 0 for r in members],
            width=0.4,
            label="floor / peer / baseline",
        )
        axis.set_xticks(list(positions))
        axis.set_xticklabels([r["name"].split(".", 1)[1] for r in members], rotation=30, ha="right", fontsize=8)
        units = sorted({r["unit"] for r in members})
        axis.set_ylabel(", ".join(units))
        if len(units) > 1 or max(r["value"] for r in members) > 50 * min(r["value"] or 1 for r in members):
            axis.set_yscale("log")
        axis.set_title(group)
        axis.legend()
        figure.tight_layout()
        path = directory / (re.sub(r"[^a-z0-9]+", "_", group.lower()).strip("_") + ".png")
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written
