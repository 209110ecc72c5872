"""Matplotlib figures saved atomically as PNG (headless, no fonts beyond matplotlib's bundled ones)."""
from __future__ import annotations

import csv
from pathlib import Path

import atomic

DPI = 100


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Write `fig` as a PNG of exactly figsize x DPI pixels, then close it."""
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    pyplot().close(fig)
    return path


def read_log(path: Path) -> list[dict[str, float | None]]:
    """A run's log.csv as rows of floats (None where a value is blank)."""
    with open(path, newline="") as handle:
        return [{k: float(v) if v not in ("", None) else None for k, v in row.items()}
                for row in csv.DictReader(handle)]


def plot_curves(log_path: Path, out: Path, title: str) -> Path:
    """Training loss, validation Dice and learning rate against epoch, one panel each."""
    rows = read_log(log_path)
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(10, 3))
    for ax, key, label in zip(axes, ("loss", "val_dice", "lr"), ("training loss", "validation Dice", "learning rate")):
        points = [(r["epoch"], r[key]) for r in rows if r.get(key) is not None]
        if points:
            ax.plot(*zip(*points), marker="o", markersize=3)
        ax.set_xlabel("epoch")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    axes[1].set_ylim(0, 1)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out)
