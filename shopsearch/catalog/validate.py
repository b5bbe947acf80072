"""Checks on a product's photo before anything is embedded: a bad file is
reported with its row, never silently indexed without its picture."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from shopsearch.settings import Settings


def check_image(path: str, settings: Settings) -> None:
    """Raise ValueError with a clear reason if the photo cannot be used."""
    try:
        _check(Path(path), settings)
    except OSError as e:  # a name too long for the file system, a permission, an I/O error
        raise ValueError(f"cannot read the image file ({e.strerror or type(e).__name__}): {str(path)[:200]}") from None


def _check(p: Path, settings: Settings) -> None:
    if not p.exists():
        raise ValueError(f"image file not found: {p}")
    if not p.is_file():
        raise ValueError(f"image path is not a file: {p}")
    size = p.stat().st_size
    if size == 0:
        raise ValueError(f"image file is empty: {p}")
    if size > settings.max_image_bytes:
        raise ValueError(f"image file too large ({size:,} bytes > {settings.max_image_bytes:,}): {p}")
    try:
        with Image.open(p) as img:
            w, h = img.size
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"not a readable image ({type(e).__name__}): {p}") from None
    except Image.DecompressionBombError:
        raise ValueError(f"image has an absurd size: {p}") from None
    if w * h > settings.max_image_pixels:
        raise ValueError(f"image has an absurd size ({w}x{h} pixels): {p}")
    if min(w, h) < settings.min_image_side:
        raise ValueError(f"image too small ({w}x{h} pixels): {p}")
