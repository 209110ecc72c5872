"""Deterministic synthetic data sets: hands and polyps in the built-in tasks' layouts, shapes for any task file."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

import atomic
from configs.task import TaskSpec, load_task_spec
from data.handbone import CLASSES
from data.images import write_image_atomic
from data.task import Task

# Finger rays (thumb first): base point (x, y), direction angle in degrees from "up", bone lengths.
_FINGER_RAYS = (
    ((0.36, 0.62), -48, (0.13, 0.10, 0.08)),
    ((0.42, 0.58), -16, (0.17, 0.11, 0.07, 0.06)),
    ((0.50, 0.57), -3, (0.18, 0.12, 0.08, 0.06)),
    ((0.57, 0.58), 9, (0.17, 0.11, 0.07, 0.06)),
    ((0.63, 0.61), 22, (0.15, 0.09, 0.06, 0.05)),
)
_CARPAL_CENTRES = (  # Trapezium .. Pisiform
    (0.39, 0.66), (0.45, 0.64), (0.51, 0.65), (0.58, 0.66),
    (0.42, 0.72), (0.50, 0.72), (0.57, 0.72), (0.62, 0.70),
)
_FOREARM = (((0.46, 0.76), (0.44, 1.0), 0.085), ((0.59, 0.77), (0.61, 1.0), 0.06))  # Radius, Ulna


def _segment_polygon(start: np.ndarray, end: np.ndarray, width: float, overlap: float) -> np.ndarray:
    """A six-point bone outline from start to end, extended by `overlap` at both ends."""
    axis = (end - start) / np.linalg.norm(end - start)
    normal = np.array([-axis[1], axis[0]])
    a, b = start - axis * overlap, end + axis * overlap
    half = normal * width / 2
    step = axis * width / 2
    return np.array([a, a + step + half, b - step + half, b, b - step - half, a + step - half])


def _ellipse_polygon(centre: np.ndarray, rx: float, ry: float, points: int = 10) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, points, endpoint=False)
    return centre + np.stack([rx * np.cos(angles), ry * np.sin(angles)], axis=1)


def hand_polygons(rng: np.random.Generator) -> list[np.ndarray]:
    """29 bone polygons in unit coordinates, in CLASSES order, jittered by `rng`."""
    polygons = []
    for (x, y), angle, lengths in _FINGER_RAYS:
        theta = np.deg2rad(angle + rng.uniform(-5, 5))
        direction = np.array([np.sin(theta), -np.cos(theta)])
        point = np.array([x, y])
        for length in lengths:
            end = point + direction * length * rng.uniform(0.9, 1.1)
            polygons.append(_segment_polygon(point, end, width=0.035, overlap=0.008))
            point = end
    for cx, cy in _CARPAL_CENTRES:
        centre = np.array([cx, cy]) + rng.normal(0, 0.004, 2)
        polygons.append(_ellipse_polygon(centre, 0.036 * rng.uniform(0.9, 1.1), 0.032 * rng.uniform(0.9, 1.1)))
    for start, end, width in _FOREARM:
        polygons.append(_segment_polygon(np.array(start), np.array(end), width, overlap=0.0))
    return polygons


def _transform(polygons: list[np.ndarray], rng: np.random.Generator, mirror: bool) -> list[np.ndarray]:
    angle = np.deg2rad(rng.uniform(-8, 8))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    scale, shift = rng.uniform(0.88, 1.0), rng.uniform(-0.03, 0.03, 2)
    out = []
    for polygon in polygons:
        p = (polygon - 0.5) @ rotation.T * scale + 0.5 + shift
        if mirror:
            p[:, 0] = 1 - p[:, 0]
        out.append(np.clip(p, 0, 1))
    return out


def render_xray(polygons_px: list[np.ndarray], size: int, rng: np.random.Generator) -> np.ndarray:
    """A grayscale X-ray-like image: soft tissue, additive bone density, blur and noise."""
    image = np.full((size, size), 25.0, dtype=np.float32)
    tissue = np.zeros((size, size), np.uint8)
    cv2.fillPoly(tissue, [cv2.convexHull(np.concatenate(polygons_px).astype(np.int32))], 1)
    image += 35 * cv2.dilate(tissue, np.ones((size // 16 + 1,) * 2, np.uint8))
    for polygon in polygons_px:
        bone = np.zeros((size, size), np.uint8)
        cv2.fillPoly(bone, [polygon.astype(np.int32)], 1)
        image += rng.uniform(70, 90) * bone
    image = cv2.GaussianBlur(image, (0, 0), max(size / 400, 0.5))
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _write_hand(root: Path, split: str, patient: str, stamp: int, side: str, size: int,
                rng: np.random.Generator, labelled: bool) -> None:
    polygons = _transform(hand_polygons(rng), rng, mirror=side == "L")
    polygons_px = [np.round(p * (size - 1)).astype(np.int64) for p in polygons]
    name = f"image{stamp}_{side}"
    write_image_atomic(root / split / "DCM" / patient / f"{name}.png", render_xray(polygons_px, size, rng))
    if labelled:
        annotations = [{"id": f"{name}-{i}", "type": "poly_seg", "attributes": {}, "label": label,
                        "points": p.tolist()} for i, (label, p) in enumerate(zip(CLASSES, polygons_px))]
        atomic.write_text(root / split / "outputs_json" / patient / f"{name}.json",
                          json.dumps({"annotations": annotations, "filename": f"{name}.png"}))


def make_handbone(root: Path | str, patients: int = 6, test_patients: int = 2, size: int = 256,
                  seed: int = 0) -> Path:
    """Write ROOT/train/{DCM,outputs_json}/IDnnn/ and ROOT/test/DCM/IDnnn/, two hands per patient."""
    root, rng = Path(root), np.random.default_rng(seed)
    for index in range(patients + test_patients):
        split, labelled = ("train", True) if index < patients else ("test", False)
        for side in ("R", "L"):
            stamp = 1661130000000 + index * 100000 + (side == "L") * 777 + int(rng.integers(0, 999))
            _write_hand(root, split, f"ID{index + 1:03d}", stamp, side, size, rng, labelled)
    return root


def make_handbone_holdout(root: Path | str, patients: int = 2, size: int = 256, seed: int = 1) -> Path:
    """A labelled hand-bone set whose images also sit in its test/DCM: an ensemble predicts it as a
    test set and `score` checks the CSV against its labels."""
    root = make_handbone(root, patients=patients, test_patients=0, size=size, seed=seed)
    shutil.copytree(root / "train" / "DCM", root / "test" / "DCM")
    return root


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    coarse = rng.normal(0, 1, (cells, cells)).astype(np.float32)
    return cv2.resize(coarse, shape[::-1], interpolation=cv2.INTER_CUBIC)


def polyp_sample(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One RGB image with a polyp-like blob on a textured mucosa background, and its mask."""
    shape = (size, size)
    texture = _smooth_noise(rng, shape, 6) * 18 + _smooth_noise(rng, shape, 24) * 6
    base = np.array([170, 80, 70], np.float32) + rng.normal(0, 8, 3)
    image = base + texture[..., None] * np.array([1.0, 0.6, 0.5], np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    cx, cy = rng.uniform(0.3, 0.7, 2)
    radius = rng.uniform(0.1, 0.22)
    angle = np.arctan2(yy - cy, xx - cx)
    wobble = 1 + sum(rng.uniform(-0.12, 0.12) * np.sin(k * angle + rng.uniform(0, 6.3)) for k in (2, 3, 5))
    distance = np.hypot(xx - cx, yy - cy) / (radius * wobble)
    mask = distance < 1
    shading = np.clip(1 - distance, 0, 1)[..., None]
    polyp_colour = np.array([220, 130, 110], np.float32) + rng.normal(0, 10, 3)
    image = np.where(mask[..., None], polyp_colour * (0.75 + 0.35 * shading) + texture[..., None] * 0.4, image)
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), mask


def make_kvasir(root: Path | str, train: int = 16, validation: int = 4, test: int = 4, size: int = 96,
                seed: int = 0, layout: str = "release") -> Path:
    """Write the release layout (train/validation/test with images/ + masks/) or the original one."""
    root, rng = Path(root), np.random.default_rng(seed)
    if layout == "original":
        parts = [(root, train + validation + test)]
    else:
        parts = [(root / "train", train), (root / "validation", validation), (root / "test", test)]
    index = 0
    for folder, count in parts:
        for _ in range(count):
            image, mask = polyp_sample(rng, size)
            write_image_atomic(folder / "images" / f"{index}.jpg", image)
            write_image_atomic(folder / "masks" / f"{index}.jpg", mask.astype(np.uint8) * 255)
            index += 1
    return root


SHAPE_COLOURS = np.array([[230, 60, 60], [60, 200, 60], [70, 90, 235], [230, 200, 40], [200, 60, 210],
                          [40, 200, 210], [245, 140, 40], [150, 150, 150]], np.float32)


def shapes_sample(rng: np.random.Generator, classes: int, size: int, exclusive: bool) -> tuple[np.ndarray, np.ndarray]:
    """An RGB image of filled shapes, one per class (each present with probability 0.8), a colour and a form per
    class; and its CxHxW masks. The shapes of an exclusive task never overlap (each has its own cell)."""
    image = np.full((size, size, 3), 60, np.float32) + _smooth_noise(rng, (size, size), 5)[..., None] * 12
    masks = np.zeros((classes, size, size), np.uint8)
    cells = int(np.ceil(np.sqrt(classes)))
    cell = size / cells
    for index in range(classes):
        if rng.random() > 0.8:
            continue
        if exclusive or classes > 1:
            row, column = divmod(index, cells)
            centre = (np.array([column, row]) + rng.uniform(0.35, 0.65, 2)) * cell
            radius = cell * rng.uniform(0.18, 0.3)
        else:
            centre, radius = rng.uniform(0.3, 0.7, 2) * size, size * rng.uniform(0.12, 0.25)
        form = index % 3
        if form == 0:
            cv2.ellipse(masks[index], (int(centre[0]), int(centre[1])),
                        (max(2, int(radius)), max(2, int(radius * rng.uniform(0.6, 1.0)))), rng.uniform(0, 180), 0,
                        360, 1, -1)
        else:
            corners = 3 if form == 1 else 4
            angles = rng.uniform(0, 2 * np.pi) + np.arange(corners) * 2 * np.pi / corners
            points = centre + radius * np.stack([np.cos(angles), np.sin(angles)], 1)
            cv2.fillPoly(masks[index], [np.round(points).astype(np.int32)], 1)
        colour = SHAPE_COLOURS[index % len(SHAPE_COLOURS)] * (0.6 + 0.4 * (index // len(SHAPE_COLOURS) % 2))
        image = np.where(masks[index, ..., None] > 0, colour + rng.normal(0, 8, 3), image)
    image += rng.normal(0, 5, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), masks.astype(bool)


def make_shapes(spec: TaskSpec, root: Path | str, train: int = 12, test: int = 4, size: int = 96,
                seed: int = 0) -> Path:
    """Write `train` labelled images (in the first `images.train` folder, labels in the task's format) and `test`
    images (in the first `images.test` folder, unless that is the root) of shapes, one class each."""
    root, rng = Path(root), np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    suffix = (spec.images.suffixes or [".png"])[0]
    writer = Task(spec, root).labels.writer(root)
    for index in range(train):
        image, masks = shapes_sample(rng, len(spec.classes), size, spec.exclusive)
        case = f"{spec.images.train[0]}/case{index:03d}{suffix}"
        write_image_atomic(root / case, image)
        writer.add(case, masks)
    writer.close()
    if spec.images.test[0] != ".":
        for index in range(test):
            image, _ = shapes_sample(rng, len(spec.classes), size, spec.exclusive)
            write_image_atomic(root / spec.images.test[0] / f"test{index:03d}{suffix}", image)
    return root


def make_synthetic(reference: str, root: Path | str, count: int, size: int, seed: int) -> Path:
    """A synthetic data set for the task `reference` names, drawn as its task file's `synth` says: hands (patients),
    polyps (train images) or shapes (train images, any task)."""
    spec = load_task_spec(reference)
    if spec.synth == "hands":
        return make_handbone(root, patients=count, size=size, seed=seed)
    if spec.synth == "polyps":
        return make_kvasir(root, train=count, size=size, seed=seed)
    return make_shapes(spec, root, train=count, test=max(2, count // 3), size=size, seed=seed)
