"""The report's one static page: tables inline, figures as PNG files beside it, no scripts."""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np

import atomic
from evaluate.counts import mean_scored
from report.analysis import Analysis
from report.confusion import predicted_share

STYLE = """body{font-family:sans-serif;margin:24px;max-width:1500px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:8px 0 20px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f0f0f0}td.best{color:#0a5;font-weight:bold}
img{max-width:100%;border:1px solid #ddd;margin:4px 0}.row{display:flex;flex-wrap:wrap;gap:8px}
.row img{max-width:48%}h2{border-bottom:2px solid #eee;padding-bottom:4px;margin-top:32px}"""


def table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def images(paths: list[str], row: bool = False) -> str:
    tags = "".join(f'<a href="{html.escape(p)}"><img src="{html.escape(p)}" alt="{html.escape(p)}"></a>' for p in paths)
    return f'<div class="row">{tags}</div>' if row else tags


def class_section(result: Analysis) -> str:
    dice, share, distance = result.dice, result.boundary_share(), result.boundary_distance()
    order = np.argsort(dice.mean(0), kind="stable")
    rows = [[html.escape(result.task.classes[i]), f"{dice[:, i].mean():.4f}", f"{dice[:, i].std():.4f}",
             f"{np.median(dice[:, i]):.4f}", f"{dice[:, i].min():.4f}", f"{share[i]:.3f}",
             "-" if np.isnan(distance[i]) else f"{distance[i]:.2f}"] for i in order]
    return table(["class (worst first)", "mean Dice", "std", "median", "min",
                  f"wrong px within {result.near:g} px of the true boundary", "mean boundary distance (px)"], rows)


def confusion_section(result: Analysis) -> str:
    """The largest off-diagonal entries: which class's predictions fall in which other class's truth."""
    shares = predicted_share(result.overlap, result.predicted)
    classes = result.task.classes
    pairs = sorted(((shares[i, j], i, j) for i in range(len(classes)) for j in range(len(classes)) if i != j),
                   reverse=True)[:10]
    rows = [[html.escape(classes[j]), html.escape(classes[i]), f"{value:.3f}"] for value, i, j in pairs if value > 0]
    return table(["predicted class", "lies in true class", "share of its predicted pixels"], rows) if rows else \
        "<p>No predicted pixel lies in another class's truth.</p>"


def members_section(result: Analysis) -> str:
    if len(result.labels) < 2:
        return "<p>One input: give several CSVs or run folders to compare them class by class.</p>"
    table_values = np.stack([mean_scored(c.dice(result.task.spec.metric), 0) for c in result.counts], 1)
    rows = []
    for i, name in enumerate(result.task.classes):
        best = table_values[i].max()
        cells = [f'<td class="best">{v:.4f}</td>' if v == best else f"{v:.4f}" for v in table_values[i]]
        gain = table_values[i, 0] - table_values[i, 1:].max()
        rows.append([html.escape(name), *cells, f"{gain:+.4f}"])
    means = table_values.mean(0)
    rows.append(["<strong>mean</strong>", *(f"{v:.4f}" for v in means), f"{means[0] - means[1:].max():+.4f}"])
    header = ["class", *result.labels, f"{result.labels[0]} minus the best other"]
    return table(header, rows)


def write_page(path: Path, result: Analysis, figures: dict[str, list[str]],
               worst: list[tuple[str, float, str]]) -> Path:
    dice = result.dice
    worst_rows = [[f'<a href="{html.escape(p)}">{html.escape(n)}</a>', f"{d:.4f}"] for n, d, p in worst]
    sections = [
        f"<h1>{html.escape(result.labels[0])}: mean Dice {dice.mean():.4f}</h1>",
        f"<p>{len(result.names)} images, {len(result.task.classes)} classes, task {result.task.name}. Tables: "
        '<a href="per_class.csv">per_class.csv</a>, <a href="per_image.csv">per_image.csv</a>, '
        '<a href="confusion.csv">confusion.csv</a>'
        + (', <a href="members.csv">members.csv</a>' if len(result.labels) > 1 else "") + ".</p>",
        "<h2>Per-class Dice</h2>", images(figures["per_class"]), class_section(result),
        "<h2>Dice over images</h2>", images(figures["histogram"]),
        "<h2>Worst images</h2>", table(["image", "mean Dice"], worst_rows),
        "<h2>Multi-label confusion</h2>", images(figures["confusion"]), confusion_section(result),
        "<h2>Member comparison</h2>", images(figures["members"]), members_section(result),
        "<h2>Overlays of the worst images</h2><p>Left truth, right prediction; zoomed crops show the image's worst "
        "classes with the truth outlined in white and the prediction in the class colour.</p>",
        images([p for _, _, p in worst]),
    ]
    if figures["curves"]:
        sections += ["<h2>Training curves</h2>", images(figures["curves"], row=True)]
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>segzoo report: {html.escape(result.labels[0])}"
            f"</title><style>{STYLE}</style></head><body>{''.join(sections)}</body></html>\n")
    atomic.write_text(path, page)
    return path
