"""`analyze`: where predictions are wrong. The first input is analysed in depth (per-class Dice spread,
multi-label confusion, boundary error, overlays of the worst images); every input is compared per
class; run folders' training curves are plotted. One static `index.html` shows it all."""
from __future__ import annotations

import csv
import glob
import io
from pathlib import Path

import numpy as np

import atomic
from data.images import write_image_atomic
from errors import UserError
from evaluate.counts import mean_scored
from plots import plot_curves
from report.analysis import Analysis, analyse, open_sources
from report.confusion import predicted_share
from report.figures import class_box_plot, dice_histogram, heatmap
from report.overlays import class_colours, overlay_panel
from report.page import write_page
from report.sources import RunsSource, Source


def table_text(header: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()

COMMAND = "analyze"


def write_tables(out: Path, result: Analysis) -> None:
    classes, first = result.task.classes, result.counts[0]
    dice, share, distance = result.dice, result.boundary_share(), result.boundary_distance()
    metrics = {"dice": mean_scored(dice, 0), "dice_std": dice.std(0), "iou": first.iou().mean(0),
               "precision": first.precision().mean(0), "recall": first.recall().mean(0)}
    atomic.write_text(out / "per_class.csv", table_text(
        ["class", *metrics, f"wrong_within_{result.near:g}px", "boundary_distance_px"],
        [[c, *(f"{m[i]:.6f}" for m in metrics.values()), f"{share[i]:.6f}", f"{distance[i]:.4f}"]
         for i, c in enumerate(classes)]))
    order = np.argsort(mean_scored(dice, 1), kind="stable")
    atomic.write_text(out / "per_image.csv", table_text(
        ["image_name", "mean_dice", *classes],
        [[result.names[i], f"{dice[i].mean():.6f}", *(f"{d:.6f}" for d in dice[i])] for i in order]))
    shares = predicted_share(result.overlap, result.predicted)
    atomic.write_text(out / "confusion.csv", table_text(
        ["truth \\ predicted", *classes], [[c, *(f"{v:.6f}" for v in shares[i])] for i, c in enumerate(classes)]))
    if len(result.labels) > 1:
        table = np.stack([mean_scored(c.dice(result.task.spec.metric), 0) for c in result.counts], 1)
        atomic.write_text(out / "members.csv", table_text(
            ["class", *result.labels, "best"],
            [[c, *(f"{v:.6f}" for v in table[i]), result.labels[int(table[i].argmax())]]
             for i, c in enumerate(classes)]))


def write_overlays(out: Path, result: Analysis, source: Source, worst: int) -> list[tuple[str, float, str]]:
    """Overlays of the `worst` images of the first input; returns (image, mean Dice, PNG path) each."""
    task, dice, labelled = result.task, result.dice, result.cases
    colours = class_colours(len(task.classes))
    listed = []
    for index in np.argsort(dice.mean(1), kind="stable")[:worst]:
        name = result.names[index]
        truth = task.read_mask(labelled[name])
        panel = overlay_panel(task.read_image(labelled[name]), truth, source.masks(name, truth.shape[1:]),
                              task.classes, colours, dice[index])
        path = f"worst/{Path(name).stem}.png"
        write_image_atomic(out / path, panel)
        listed.append((name, float(dice[index].mean()), path))
    return listed


def write_figures(out: Path, result: Analysis, sources: list[Source]) -> dict[str, list[str]]:
    classes = list(result.task.classes)
    figures = {"per_class": [class_box_plot(out / "per_class_dice.png", classes, result.dice).name],
               "histogram": [dice_histogram(out / "dice_histogram.png", result.dice.mean(1)).name],
               "confusion": [heatmap(out / "confusion.png", predicted_share(result.overlap, result.predicted),
                                     classes, classes, "share of each predicted class's pixels in each true class",
                                     "predicted class", "true class").name], "members": [], "curves": []}
    if len(result.labels) > 1:
        table = np.stack([mean_scored(c.dice(result.task.spec.metric), 0) for c in result.counts])
        best = table == table.max(0, keepdims=True)
        figures["members"].append(heatmap(out / "members.png", table, result.labels, classes,
                                          "mean Dice per class (* best)", "class", "input", marks=best,
                                          annotate=0.0).name)
    for source in sources:
        for fold, log in source.logs() if isinstance(source, RunsSource) else []:
            path = Path("curves") / f"{source.label}_{fold}.png".replace(" ", "_").replace("/", "_")
            plot_curves(log, out / path, f"{source.label} {fold}")
            figures["curves"].append(path.as_posix())
    return figures


def analyze(task_name: str, out: Path | str, csvs: list[str] = (), runs: list[str] = (), data_root: str | None = None,
            worst: int = 4, near: float = 3.0, quiet: bool = False) -> Path:
    """Write the report folder `out` (index.html, tables, figures, overlays) and return it."""
    out = Path(out)
    if worst < 0 or not 0 < near <= 1000:
        raise UserError(f"--worst must be >= 0 and --near in (0, 1000] pixels (got {worst}, {near:g})")
    atomic.claimable_folder(out, COMMAND, "--out", beside=True)  # a new folder, or an earlier report
    task, sources = open_sources(task_name, list(csvs), list(runs), data_root)
    atomic.refuse_input_as_output(out, [task.root, *csvs, *(p for pattern in runs for p in glob.glob(pattern))],
                                  "--out")
    result = analyse(task, sources, near, quiet)
    with atomic.atomic_folder(out, COMMAND) as folder:  # the report is replaced whole, or not at all
        write_tables(folder, result)
        figures = write_figures(folder, result, sources)
        listed = write_overlays(folder, result, sources[0], worst)
        write_page(folder / "index.html", result, figures, listed)
    return out
