"""Overlays of one image: truth and prediction contours per class side by side, a legend of class
colours, and for large images zoomed crops around the image's worst classes."""
from __future__ import annotations

import cv2
import numpy as np

VIEW = 768  # longest side of each full view at most
MIN_VIEW = 512  # smaller images are enlarged to this, so outlines stay readable
ZOOM = 256  # side of each zoomed crop
ZOOMED = 3  # worst classes zoomed per image
FONT = cv2.FONT_HERSHEY_SIMPLEX
LEGEND_ROW = 22


def class_colours(count: int) -> np.ndarray:
    """Distinct RGB colours evenly spaced in hue, neighbouring classes (adjacent bones) far apart on the wheel."""
    step = next(s for s in range(count // 3 + 1, count + 1) if np.gcd(s, count) == 1) if count > 3 else 1
    hue = (np.arange(count) * step % count) * 180.0 / count
    hsv = np.stack([hue, np.full(count, 220), np.full(count, 255)], 1)
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0]


def scaled(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


def draw(image: np.ndarray, masks: np.ndarray, colours: np.ndarray, fill: float = 0.3) -> np.ndarray:
    """Masks (already at the image's size) filled lightly and outlined, one colour per class."""
    out = image.astype(np.float32)
    for mask, colour in zip(masks, colours):
        out[mask > 0] = out[mask > 0] * (1 - fill) + colour * fill
    out = out.astype(np.uint8)
    for mask, colour in zip(masks, colours):
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in colour), 2)
    return out


def label(panel: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.5) -> None:
    cv2.putText(panel, text, origin, FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(panel, text, origin, FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def legend(width: int, names: list[str], colours: list[np.ndarray]) -> np.ndarray:
    """Colour swatches and class names, wrapped into rows of `width` pixels."""
    entries = [(n, c, cv2.getTextSize(n, FONT, 0.45, 1)[0][0] + 30) for n, c in zip(names, colours)]
    rows, x = 1, 0
    for _, _, w in entries:
        if x + w > width and x > 0:
            rows, x = rows + 1, 0
        x += w
    strip = np.full((rows * LEGEND_ROW + 6, width, 3), 255, np.uint8)
    row, x = 0, 4
    for name, colour, w in entries:
        if x + w > width and x > 4:
            row, x = row + 1, 4
        y = row * LEGEND_ROW + 6
        cv2.rectangle(strip, (x, y), (x + 14, y + 14), tuple(int(c) for c in colour), -1)
        cv2.putText(strip, name, (x + 19, y + 12), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        x += w
    return strip


def zoom_tile(image: np.ndarray, truth: np.ndarray, pred: np.ndarray, colour: np.ndarray, text: str) -> np.ndarray:
    """A ZOOM x ZOOM crop around one class: truth outlined in white, prediction in the class colour."""
    union = truth | pred
    rows, cols = np.flatnonzero(union.any(1)), np.flatnonzero(union.any(0))
    centre = ((rows[0] + rows[-1]) // 2, (cols[0] + cols[-1]) // 2)
    half = max(rows[-1] - rows[0], cols[-1] - cols[0], 48) * 0.7
    top, left = (int(max(0, min(c - half, s - 2 * half))) for c, s in zip(centre, image.shape[:2]))
    side = int(min(2 * half, *image.shape[:2]))
    crop = (slice(top, top + side), slice(left, left + side))
    tile = cv2.resize(image[crop], (ZOOM, ZOOM), interpolation=cv2.INTER_AREA)
    for mask, tone in ((truth, np.array([255, 255, 255])), (pred, colour)):
        contours, _ = cv2.findContours(scaled(mask[crop], (ZOOM, ZOOM)), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(tile, contours, -1, tuple(int(c) for c in tone), 2)
    label(tile, text, (6, ZOOM - 8), 0.45)
    return tile


def overlay_panel(image: np.ndarray, truth: np.ndarray, pred: np.ndarray, classes: tuple[str, ...],
                  colours: np.ndarray, dice: np.ndarray) -> np.ndarray:
    """[truth | prediction], each MIN_VIEW to VIEW px on its long side, the legend of the classes shown, and
    zooms when the image is large."""
    height, width = image.shape[:2]
    scale = min(VIEW / max(height, width), max(1.0, MIN_VIEW / max(height, width)))
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    small = cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    views = []
    for masks, title in ((truth, "truth"), (pred, "prediction")):
        view = draw(small, np.stack([scaled(m, shape) for m in masks]), colours)
        label(view, title, (8, 22), 0.6)
        views.append(view)
    panel = np.concatenate(views, axis=1)
    shown = [i for i in range(len(classes)) if truth[i].any() or pred[i].any()]
    parts = [panel, legend(panel.shape[1], [classes[i] for i in shown], [colours[i] for i in shown])]
    if max(height, width) > 512 and shown:
        worst = sorted(shown, key=lambda i: dice[i])[:ZOOMED]
        tiles = [zoom_tile(image, truth[i], pred[i], colours[i], f"{classes[i]} Dice {dice[i]:.2f}") for i in worst]
        row = np.full((ZOOM + 8, panel.shape[1], 3), 255, np.uint8)
        for k, tile in enumerate(tiles[:panel.shape[1] // (ZOOM + 8)]):
            row[4:4 + ZOOM, 4 + k * (ZOOM + 8):4 + k * (ZOOM + 8) + ZOOM] = tile
        parts.append(row)
    return np.concatenate(parts, axis=0)
