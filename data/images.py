"""Image and mask file reading with one-line errors naming the file."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import atomic
from errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


# Every reader applies the EXIF orientation, as viewers (and PIL's `exif_transpose`) show the file;
# IMREAD_UNCHANGED would ignore it, so colour and depth are kept with ANYCOLOR | ANYDEPTH instead.
READ_AS_SHOWN = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
ORIENTATION_TAG = 0x0112


def read_image(path: Path) -> np.ndarray:
    """Read any PNG/JPEG (grayscale, RGB, RGBA, 8 or 16 bit) as HxWx3 uint8 RGB, as a viewer shows it."""
    image = cv2.imread(str(path), READ_AS_SHOWN)
    if image is None:
        raise UserError(f"cannot read image: {path}")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise UserError(f"unsupported pixel type {image.dtype}: {path}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_binary_mask(path: Path, threshold: int = 127) -> np.ndarray:
    """Read a grayscale mask image as a viewer shows it and threshold it (pixel > threshold) to HxW bool."""
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise UserError(f"cannot read mask: {path}")
    return mask > threshold


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) as a viewer shows the image (EXIF orientation applied), from the file header alone."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(ORIENTATION_TAG, 1)
    except (OSError, ValueError):
        raise UserError(f"cannot read image: {path}") from None
    return (width, height) if orientation in TRANSPOSING_ORIENTATIONS else (height, width)


def list_images(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    """All image files below `folder`, sorted by relative path."""
    if not folder.is_dir():
        raise UserError(f"no such folder: {folder}")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def write_image_atomic(path: Path, image: np.ndarray) -> None:
    """Write an RGB or grayscale uint8 image via a temporary file and rename."""
    bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(path.suffix, bgr)
    if not ok:
        raise UserError(f"cannot encode image: {path}")
    atomic.write_bytes(path, encoded.tobytes())
