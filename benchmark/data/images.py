"""Reading one image or mask file into a numpy array, with the checks every reader shares.

Every failure a user's file can cause (unreadable, truncated, colour, 16-bit, non-binary mask)
becomes a `BenchmarkError` naming the file, so a reader never leaks a bare PIL exception. A mask
with grey values (an anti-aliased download) is binarised only at a threshold the user gives
(`--mask-threshold`), never at a guessed one.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.core.errors import BenchmarkError

IMAGE_SUFFIXES: frozenset[str] = frozenset(ext.lower() for ext in Image.registered_extensions())
SHOWN_VALUES = 8

# What PIL raises for a file that is not a valid image: bad header, truncated data, broken chunks.
_PIL_FILE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error,
                    Image.DecompressionBombError)


def natural_key(name: str) -> tuple:
    """Sort key that puts '2' before '10', so ids come out in the order a person expects."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", name) if part)


def is_image_file(path: Path) -> bool:
    """A visible regular file with a suffix Pillow knows; other files (README, .DS_Store) are ignored."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, in natural order of their names."""
    return sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: natural_key(p.name))


def _grey_from_colour(rgb: np.ndarray, path: Path, mode: str) -> np.ndarray:
    """Colour-encoded grey (R = G = B) is common for exported angiograms; real colour is an error."""
    if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])):
        raise BenchmarkError(f"{path}: colour image (mode {mode}) whose channels differ; expected grey")
    return np.ascontiguousarray(rgb[..., 0])


def read_plane(path: Path, palette_as_index: bool = False) -> np.ndarray:
    """The file's single 2-D plane, in the dtype it is stored with; alpha is ignored.

    Palette images are label maps when they are masks (`palette_as_index`), pictures otherwise.
    """
    try:
        with Image.open(path) as img:
            img.load()  # decode now: a truncated file only fails when its pixels are read
            mode = img.mode
            if mode == "1":
                return np.asarray(img.convert("L"))
            if mode in ("L", "I", "I;16", "I;16L", "I;16B", "F") or (mode == "P" and palette_as_index):
                return np.asarray(img)
            if mode in ("LA", "La"):
                return np.ascontiguousarray(np.asarray(img)[..., 0])
            rgb = np.asarray(img if mode in ("RGB", "RGBA", "RGBX") else img.convert("RGB"))
    except _PIL_FILE_ERRORS as exc:
        raise BenchmarkError(f"{path}: cannot read image ({exc})") from exc
    return _grey_from_colour(rgb[..., :3], path, mode)


def read_image(path: Path) -> np.ndarray:
    """An 8-bit grey image as uint8 H×W."""
    plane = read_plane(path)
    if plane.dtype != np.uint8:
        raise BenchmarkError(f"{path}: {plane.dtype} pixels; expected 8-bit grey (convert it to 8-bit)")
    return plane


def read_grey(path: Path) -> np.ndarray:
    """An 8-bit grey image as uint8, or a 32-bit float image (TIFF mode F) as float32, H×W.

    Float images are what `angiobench data export-nnunet` writes (pre-processed, z-scored pixels,
    stored losslessly); other readers take 8-bit only.
    """
    plane = read_plane(path)
    if plane.dtype not in (np.uint8, np.float32):
        raise BenchmarkError(f"{path}: {plane.dtype} pixels; expected 8-bit grey or 32-bit float")
    if plane.dtype == np.float32 and not np.isfinite(plane).all():
        raise BenchmarkError(f"{path}: float image holds NaN or infinite pixels")
    return plane


def distinct_values(plane: np.ndarray) -> np.ndarray:
    """Sorted distinct values; a histogram for uint8, which is the common case and much faster."""
    if plane.dtype == np.uint8:
        return np.flatnonzero(np.bincount(plane.ravel(), minlength=256)).astype(np.uint8)
    return np.unique(plane)


#: The values `--mask-threshold` (`data.mask_threshold`) may take: an 8-bit grey level.
MASK_THRESHOLD_RANGE = (1, 255)


def check_mask_threshold(threshold: int | None, option: str) -> None:
    """Refuse a threshold that is not an integer in 1–255, naming the option it came from."""
    low, high = MASK_THRESHOLD_RANGE
    if threshold is None:
        return
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not low <= threshold <= high:
        raise BenchmarkError(f"{option} {threshold!r}: expected an integer from {low} to {high} "
                             "(a grey mask's pixel is vessel where its value is at least this)")


def _shown_values(values: np.ndarray) -> str:
    more = f", … ({len(values)} values)" if len(values) > SHOWN_VALUES else ""
    return ", ".join(str(v) for v in values[:SHOWN_VALUES].tolist()) + more


def vessel_pixels(plane: np.ndarray, path: Path, threshold: int | None = None) -> tuple[np.ndarray, bool]:
    """A mask plane as bool vessel pixels, and whether it was binarised at `threshold`.

    A binary plane (0 and one other value, or a single value) is vessel wherever it is non-zero,
    whatever the threshold, so a 0/1 mask stays one. Any other plane (anti-aliased edges, grey
    levels) is an error, unless a threshold is given: then vessel is value ≥ threshold, on 8-bit
    planes only (a threshold of 1–255 means nothing for 16-bit or float values).
    """
    values = distinct_values(plane)
    if len(values) < 2 or (len(values) == 2 and values[0] == 0):
        return plane != 0, False
    if threshold is None:
        raise BenchmarkError(f"{path}: mask is not binary, found values {_shown_values(values)}; expected 0 for "
                             "background and one other value for vessel, or binarise grey masks with "
                             "--mask-threshold T (data.mask_threshold; vessel = value ≥ T)")
    if plane.dtype != np.uint8:
        raise BenchmarkError(f"{path}: mask is not binary, found {plane.dtype} values {_shown_values(values)}; "
                             "--mask-threshold binarises 8-bit masks only")
    return plane >= threshold, True


def read_mask_file(path: Path, threshold: int | None = None) -> tuple[np.ndarray, bool]:
    """`read_mask`, and whether the file had grey values that `threshold` binarised."""
    return vessel_pixels(read_plane(path, palette_as_index=True), path, threshold)


def read_mask(path: Path, threshold: int | None = None) -> np.ndarray:
    """A vessel mask as bool H×W: 0 is background and the one other value (1, 255, …) vessel; a
    mask with more values is an error, or with `threshold`, vessel where value ≥ threshold."""
    return read_mask_file(path, threshold)[0]
