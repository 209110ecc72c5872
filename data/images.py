"""Image and mask file reading with one-line errors naming the file."""
from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import atomic
from errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
UNSUPPORTED_SUFFIXES = (".gif", ".webp", ".apng", ".heic", ".avif", ".jp2")  # images a user may mean, never read


# Every reader applies the EXIF orientation, as viewers (and PIL's `exif_transpose`) show the file;
# IMREAD_UNCHANGED would ignore it, so colour and depth are kept with ANYCOLOR | ANYDEPTH instead.
READ_AS_SHOWN = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
ORIENTATION_TAG = 0x0112
MAX_PIXELS = Image.MAX_IMAGE_PIXELS  # above it PIL (and so a viewer built on it) calls the file a decompression bomb
JPEG_SUFFIXES = (".jpg", ".jpeg")


def read_image(path: Path) -> np.ndarray:
    """Read any PNG/JPEG (grayscale, RGB, RGBA, 8 or 16 bit) as HxWx3 uint8 RGB, as a viewer shows it."""
    image = decode_as_shown(path, READ_AS_SHOWN, "image")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise UserError(f"unsupported pixel type {image.dtype}: {path}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_binary_mask(path: Path, threshold: int = 127) -> np.ndarray:
    """A binary mask image as a viewer shows it -> HxW bool, by what the file holds: a JPEG (lossy, its edges
    blurred) is read in grey and thresholded (pixel > threshold); a lossless mask (PNG, BMP, TIFF, ...) of 0 and one
    other value has that value as its foreground whatever it is ({0, 1}, {0, 255}, 16-bit); a lossless 8-bit mask of
    more values (one resized with interpolation) is thresholded like a JPEG. A colour mask, two values without 0, or
    a 16-bit mask of more values is one line."""
    if is_jpeg(path):
        return decode_as_shown(path, cv2.IMREAD_GRAYSCALE, "mask") > threshold
    image = decode_as_shown(path, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH, "mask")
    if image.ndim == 3 and not ((image[..., 0] == image[..., 1]).all() and (image[..., 0] == image[..., 2]).all()):
        raise UserError(f"mask {path} is in colour: a binary mask is grey, 0 and one other value")
    plane = image[..., 0] if image.ndim == 3 else image
    values = np.unique(plane)
    if len(values) > 2:  # an interpolated (resized) mask: its 8-bit grey above the threshold, as a JPEG's
        if plane.dtype != np.uint8:
            raise UserError(f"mask {path} holds {len(values)} values at 16 bits: a binary mask holds 0 and one other")
        return plane > threshold
    if len(values) == 2 and values[0] != 0:
        raise UserError(f"mask {path} holds the values {values[0]} and {values[1]}: a binary mask holds 0 and one "
                        f"other value")
    return plane > 0


def is_jpeg(path: Path) -> bool:
    """Whether the file's bytes are a JPEG (its start-of-image marker), whatever its name says."""
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == b"\xff\xd8"
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from None


def decode_as_shown(path: Path, flags: int, what: str) -> np.ndarray:
    """Decode a file the way a viewer shows it, or refuse it in one line: unreadable or damaged (a JPEG cut
    short, which OpenCV would fill with grey), larger than MAX_PIXELS, or decoded to a size its header
    does not give."""
    shape = image_size(path, what)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"cannot read {what}: {path}: {err.strerror}") from None
    if data[:2] == b"\xff\xd8" and not jpeg_complete(data):  # a JPEG by its bytes, whatever its name
        raise UserError(f"damaged {what} (the JPEG is cut short): {path}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise UserError(f"cannot read {what} (damaged, or not an image): {path}")
    if image.shape[:2] != shape:
        raise UserError(f"damaged {what}: decodes to {image.shape[1]}x{image.shape[0]} but its header says "
                        f"{shape[1]}x{shape[0]}: {path}")
    return image


def jpeg_complete(data: bytes) -> bool:
    """The end-of-image marker follows the last start-of-scan: entropy-coded data never holds 0xFFD9, so a
    file cut inside its last scan has none after it (an EXIF thumbnail's markers all come before)."""
    last_scan = data.rfind(b"\xff\xda")
    return last_scan >= 0 and data.find(b"\xff\xd9", last_scan) >= 0


def image_size(path: Path, what: str = "image") -> tuple[int, int]:
    """(height, width) as a viewer shows the image (EXIF orientation applied), from the file header alone;
    a file above MAX_PIXELS is refused before anything decodes it."""
    try:
        with warnings.catch_warnings():  # PIL warns of a size that is refused below in one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                orientation = image.getexif().get(ORIENTATION_TAG, 1)
                shown_size = image.format == "TIFF"  # Pillow gives a TIFF's size as shown already
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise UserError(f"cannot read {what}: {path}") from None
    if width * height > MAX_PIXELS:
        raise UserError(f"{what} too large to decode safely ({width}x{height} > {MAX_PIXELS} pixels, a "
                        f"decompression bomb?): {path}")
    return (width, height) if orientation in TRANSPOSING_ORIENTATIONS and not shown_size else (height, width)


def list_images(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    """All image files below `folder`, sorted by relative path."""
    if not folder.is_dir():
        raise UserError(f"no such folder: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    unsupported = next((p for p in files if p.suffix.lower() in UNSUPPORTED_SUFFIXES), None)
    if unsupported is not None:  # left out in silence, it would be missing from the submission
        raise UserError(f"{unsupported}: {unsupported.suffix} images are not read (animated or lossy formats); "
                        f"convert it to PNG or JPEG, or move it out of {folder}")
    found = [p for p in files if p.suffix.lower() in suffixes]
    for path in found:  # a name the submission CSV (UTF-8) cannot hold
        try:
            str(path.relative_to(folder)).encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(f"{folder}: the file name {str(path.name)!r} is not valid UTF-8: rename it") from None
    return found


def write_image_atomic(path: Path, image: np.ndarray) -> None:
    """Write an RGB or grayscale uint8 image via a temporary file and rename."""
    bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(path.suffix, bgr)
    if not ok:
        raise UserError(f"cannot encode image: {path}")
    atomic.write_bytes(path, encoded.tobytes())
