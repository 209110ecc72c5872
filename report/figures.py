"""The report's figures: per-class Dice spread, Dice histogram, confusion heatmap, member comparison."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from plots import pyplot, save_figure


def class_box_plot(path: Path, classes: list[str], dice: np.ndarray) -> Path:
    """Per-class Dice over images (images x classes), one horizontal box per class, worst class on top."""
    plt = pyplot()
    order = np.argsort(dice.mean(0))
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.28 * len(classes) + 1)))
    ax.boxplot([dice[:, i] for i in order[::-1]], orientation="horizontal", widths=0.6, showmeans=True,
               meanprops={"marker": "D", "markerfacecolor": "tab:red", "markeredgecolor": "tab:red", "markersize": 4})
    ax.set_yticks(range(1, len(classes) + 1), [classes[i] for i in order[::-1]], fontsize=8)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("Dice per image (diamond: mean)")
    ax.set_title(f"per-class Dice over {len(dice)} images, worst class on top (mean {dice.mean():.4f})", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def dice_histogram(path: Path, image_dice: np.ndarray) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(image_dice, bins=np.linspace(0, 1, 21), color="tab:blue", edgecolor="white")
    ax.set_xlabel("mean Dice of an image over its classes")
    ax.set_ylabel("images")
    ax.set_title(f"{len(image_dice)} images, median {np.median(image_dice):.4f}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def heatmap(path: Path, values: np.ndarray, rows: list[str], cols: list[str], title: str, xlabel: str, ylabel: str,
            marks: np.ndarray | None = None, annotate: float = 0.05) -> Path:
    """Values in [0, 1] as colours; cells above `annotate` (or marked) carry their value as text."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 0.36 * len(cols) + 3), max(2.5, 0.36 * len(rows) + 2)))
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    for (i, j), value in np.ndenumerate(values):
        marked = marks is not None and marks[i, j]
        if value >= annotate or marked:
            ax.text(j, i, f"{value:.2f}" + ("*" if marked else ""), ha="center", va="center", fontsize=6,
                    color="black" if value > 0.6 else "white", fontweight="bold" if marked else "normal")
    fig.colorbar(image, ax=ax, fraction=0.03)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
