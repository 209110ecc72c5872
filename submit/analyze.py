"""`analyze`: per-class and per-image Dice tables, a bar chart, and overlays of the worst images."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

import atomic
from data.images import write_image_atomic
from errors import UserError
from submit.metrics import Counts
from submit.score import labelled_predictions, report_from_counts


def class_colours(count: int) -> np.ndarray:
    """Distinct RGB colours, evenly spaced in hue."""
    hsv = np.stack([np.linspace(0, 179, count, endpoint=False), np.full(count, 220), np.full(count, 255)], 1)
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0]


def overlay(image: np.ndarray, masks: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Class masks filled at half opacity over the image, with their outlines."""
    out = image.astype(np.float32)
    for mask, colour in zip(masks, colours):
        out[mask] = out[mask] * 0.5 + colour * 0.5
    out = out.astype(np.uint8)
    for mask, colour in zip(masks, colours):
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in colour), 1)
    return out


def bar_chart(path: Path, classes: tuple[str, ...], dice: np.ndarray) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4, len(classes) * 0.35), 3.5))
    ax.bar(range(len(classes)), dice, color="tab:blue")
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("mean Dice")
    ax.set_title(f"per-class Dice (mean {dice.mean():.4f})")
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def write_rows(path: Path, header: list[str], rows: list[list]) -> None:
    with atomic.atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def analyze_csv(task_name: str, csv_path: Path | str, data_root: Path | str, out: Path | str,
                worst: int = 4, quiet: bool = False) -> Path:
    """Write per_class.csv, per_image.csv, per_class_dice.png and worst/<image>.png under `out`."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file: name a folder for the report")
    task, predictions = labelled_predictions(task_name, csv_path, data_root, quiet=quiet)
    names, counts = [], []
    for p in predictions:
        names.append(p.name)
        counts.append(Counts.of(p.pred, p.truth))
    report = report_from_counts(task.classes, counts)
    per_image = [float(c.dice().mean()) for c in counts]
    write_rows(out / "per_class.csv", ["class", "dice", "iou", "precision", "recall"],
               [[c, f"{report.dice[i]:.6f}", f"{report.iou[i]:.6f}", f"{report.precision[i]:.6f}",
                 f"{report.recall[i]:.6f}"] for i, c in enumerate(task.classes)])
    write_rows(out / "per_image.csv", ["image_name", "mean_dice"],
               [[n, f"{d:.6f}"] for n, d in sorted(zip(names, per_image), key=lambda x: x[1])])
    bar_chart(out / "per_class_dice.png", task.classes, report.dice)
    colours = class_colours(len(task.classes))
    chosen = {n for _, n in sorted(zip(per_image, names))[:worst]}
    _, worst_predictions = labelled_predictions(task_name, csv_path, data_root, only=chosen, quiet=True)
    for p in worst_predictions:
        image = task.read_image(p.case)
        panel = np.concatenate([overlay(image, p.truth, colours), overlay(image, p.pred, colours)], axis=1)
        cv2.putText(panel, "truth", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
        cv2.putText(panel, "prediction", (image.shape[1] + 8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
        write_image_atomic(out / "worst" / f"{Path(p.name).stem}.png", panel)
    atomic.write_text(out / "summary.txt", report.table() + "\n")
    return out
