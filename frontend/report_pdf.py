"""A version's performance report as a PDF (matplotlib's PDF backend, already a dependency): the
figures of the report page, on A4 pages of charts and tables, for admins to keep or send."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from typing import Any

from annotations.models import Project

A4 = (8.27, 11.69)  # inches, portrait
MAX_ROWS = 28  # per table: the worst first, so what is cut is what works best
ROW_INCHES = 0.2
INK, MUTED, GOOD, BAD, ACCENT = "#111827", "#6b7280", "#15803d", "#b91c1c", "#2563eb"


def report_pdf(project: Project, report: dict[str, Any]) -> bytes:
    # Imported when drawing: slow to import, and only this and the simulation's plots need it.
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    buffer = io.BytesIO()
    number = report["version"]["number"]
    with PdfPages(buffer, metadata={"Title": f"{project.name}: version {number} performance report",
                                    "Creator": "labelserver"}) as pdf:
        for draw in (_summary_page, _groups_page, _images_page):
            figure = Figure(figsize=A4)
            draw(figure, project, report)
            pdf.savefig(figure)
    return buffer.getvalue()


def _summary_page(figure: Any, project: Project, report: dict[str, Any]) -> None:
    version, overall = report["version"], report["overall"]
    figure.text(0.06, 0.96, f"{project.name}: version {version['number']} ({version['status']})", fontsize=16,
                weight="bold", color=INK, va="top")
    if not report["evaluated"]:
        figure.text(0.06, 0.92, "Not evaluated on validation crops yet.", fontsize=11, color=MUTED, va="top")
        return
    aps = "   ".join(f"AP@{t} {_fmt(overall[k])}" for t, k in (("0.5", "ap50"), ("0.75", "ap75"), ("0.9", "ap90")))
    figure.text(0.06, 0.925, f"{aps}   on {overall['n_crops']} validation crops, {overall['n_true']} cells",
                fontsize=11, color=INK, va="top")
    parent = report["parent"]
    if parent and parent["overall"]:
        row = parent["overall"][0]
        figure.text(0.06, 0.9, f"Parent version {parent['number']}: AP@0.5 {_fmt(row['parent_ap50'])} on the "
                    f"{parent['n_crops']} crops both were measured on ({row['verdict']})", fontsize=10, color=MUTED,
                    va="top")
    y = 0.86
    figure.text(0.06, y, "Where labelling should go next", fontsize=13, weight="bold", color=INK, va="top")
    lines = report["next"] or [{"text": "Nothing to gain: no errors at IoU 0.5.", "note": ""}]
    for index, line in enumerate(lines, start=1):
        text = f"{index}. {line['text']}" + (f" ({line['note']})" if line["note"] else "")
        wrapped = textwrap.fill(text, 100)
        y -= 0.028
        figure.text(0.07, y, wrapped, fontsize=9.5, color=INK, va="top")
        y -= 0.016 * wrapped.count("\n")
    if not report["analysed"]:
        figure.text(0.06, y - 0.04, "Evaluated before evaluations kept their error analysis: errors by type and "
                    "recall by size appear after the next evaluation.", fontsize=9.5, color=BAD, va="top")
        return
    _errors_chart(figure.add_axes((0.17, 0.36, 0.3, 0.3)), report["errors"])
    _sizes_chart(figure.add_axes((0.58, 0.36, 0.37, 0.3)), report["sizes"])
    definitions = "\n".join(f"{row['name']}: {row['definition']}" for row in report["errors"])
    figure.text(0.06, 0.28, "Error types (each cell counts under one type at most)\n" + definitions, fontsize=8.5,
                color=MUTED, va="top", linespacing=1.5)
    _calibration_text(figure, report["calibration"], 0.14)


def _errors_chart(ax: Any, errors: Sequence[dict[str, Any]]) -> None:
    names = [row["name"] for row in errors]
    ax.barh(names[::-1], [row["count"] for row in errors][::-1], color=BAD)
    ax.set_title("Errors by type", fontsize=11, loc="left")
    ax.set_xlabel("cells")
    _tidy(ax)


def _sizes_chart(ax: Any, sizes: Sequence[dict[str, Any]]) -> None:
    ax.bar(range(len(sizes)), [row["recall"] for row in sizes], color=ACCENT)
    ax.set_xticks(range(len(sizes)), [row["label"].replace(" px", "") for row in sizes], rotation=40, ha="right",
                  fontsize=8)
    for x, row in enumerate(sizes):
        ax.text(x, row["recall"] + 0.02, str(row["n_true"]), ha="center", fontsize=7, color=MUTED)
    ax.set_ylim(0, 1.1)
    ax.set_title("Recall by true-cell area (px)", fontsize=11, loc="left")
    ax.set_ylabel("found / cells (cells above the bars)", fontsize=8)
    _tidy(ax)


def _calibration_text(figure: Any, calibration: dict[str, Any], y: float) -> None:
    cells, crops = calibration["cells"].items(), calibration["crops"].items()
    rows = [f"{name} (per cell, {c['n_cells']} cells): {_fmt(c['rho'], 2)}" for name, c in cells]
    rows += [f"{name} (per crop, {c['n_crops']} crops): {_fmt(c['rho'], 2)}" for name, c in crops]
    text = "; ".join(rows) or "no signal measured on the validation crops"
    figure.text(0.06, y, "Do the uncertainty signals rank the errors? Spearman's rank correlation with being wrong",
                fontsize=10, weight="bold", color=INK, va="top")
    figure.text(0.06, y - 0.022, textwrap.fill(text, 110), fontsize=9, color=INK, va="top", linespacing=1.5)


def _groups_page(figure: Any, project: Project, report: dict[str, Any]) -> None:
    figure.text(0.06, 0.96, f"AP by image group (pattern {report['pattern']}) and by tag", fontsize=14,
                weight="bold", color=INK, va="top")
    _ap_table(figure.add_axes((0.06, 0.52, 0.88, 0.4)), report["by_group"], "image group")
    _ap_table(figure.add_axes((0.06, 0.28, 0.88, 0.2)), report["by_tag"], "tag")
    parent = report["parent"]
    ax = figure.add_axes((0.06, 0.03, 0.88, 0.2))
    if parent and parent["by_group"]:
        rows = [[r["key"], _fmt(r["ap50"]), _fmt(r["parent_ap50"]), _fmt(r["delta"]), r["verdict"]]
                for r in parent["by_group"]]
        _table(ax, ["image group", "AP@0.5", f"v{parent['number']}", "change", ""], rows,
               f"Compared with the parent, version {parent['number']}")
    else:
        ax.axis("off")


def _images_page(figure: Any, project: Project, report: dict[str, Any]) -> None:
    figure.text(0.06, 0.96, "AP by image, and the weakest crops", fontsize=14, weight="bold", color=INK, va="top")
    _ap_table(figure.add_axes((0.06, 0.4, 0.88, 0.52)), report["by_image"], "image")
    rows = [[str(c.get("crop", "–")), _fmt(c.get("ap50")), str(c.get("n_true", 0)),
             ", ".join(f"{n} {k}" for k, n in c.get("errors", {}).items() if n) or "–"] for c in report["weakest"]]
    _table(figure.add_axes((0.06, 0.04, 0.88, 0.3)), ["crop", "AP@0.5", "cells", "errors"], rows,
           "The weakest validation crops")


def _ap_table(ax: Any, rows: Sequence[dict[str, Any]], key_title: str) -> None:
    cells = [[r["key"], _fmt(r["ap50"]), _fmt(r["ap75"]), _fmt(r["ap90"]), str(r["errors"]), str(r["n_true"]),
              str(r["n_crops"])] for r in rows]
    _table(ax, [key_title, "AP@0.5", "AP@0.75", "AP@0.9", "errors", "cells", "crops"], cells, f"AP by {key_title}")


def _table(ax: Any, header: list[str], rows: list[list[str]], title: str) -> None:
    """The first rows that fit the axes (the worst: tables come sorted worst first)."""
    ax.axis("off")
    fits = min(MAX_ROWS, int(ax.get_position().height * A4[1] / ROW_INCHES) - 1)
    if len(rows) > fits:
        title, rows = f"{title} (the first {fits} of {len(rows)})", rows[:fits]
    ax.set_title(title, fontsize=11, loc="left", color=INK)
    if not rows:
        ax.text(0, 0.9, "none", fontsize=9, color=MUTED, va="top")
        return
    table = ax.table(cellText=rows, colLabels=header, loc="upper left", cellLoc="left", colLoc="left",
                     colWidths=[0.34] + [0.66 / (len(header) - 1)] * (len(header) - 1))
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    row_height = ROW_INCHES / (ax.get_position().height * A4[1])  # the same on every table
    for (row, _), cell in table.get_celld().items():
        cell.set_edgecolor("#e5e7eb")
        cell.set_height(row_height)
        if row == 0:
            cell.set_text_props(color=MUTED, weight="bold")


def _tidy(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"
