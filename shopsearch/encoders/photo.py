"""A photo's pixels and colour histograms, and the trunk's feature layout: what the
image tower (`image.py`), its visual space (`visual.py`), the CLIP plug-in and the
training code (`shopsearch.training`) all read a photo with. numpy and PIL only."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from shopsearch.encoders.base import ImageLike

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]
HIST_LEVELS = 5
HIST_DIM = HIST_LEVELS**3  # the joint RGB histogram: every model has it, the visual vector uses it
# The HSV histogram: 12 hues x 2 chromas (muted, vivid) x 6 values, plus 6 values of grey.
# Value bins are finer in the darks, where the RGB cube lumps navy, charcoal, brown and black.
HSV_VALUE_EDGES = (40, 70, 105, 150, 200)  # of 255
HSV_GREY_BELOW, HSV_VIVID_FROM = 40, 120  # saturation (of 255)
HSV_GREY_CHROMA = 16  # max - min (of 255) below which a pixel is grey too: a dark pixel's saturation is noise
HSV_HUES = 12
HSV_DIM = HSV_HUES * 2 * (len(HSV_VALUE_EDGES) + 1) + len(HSV_VALUE_EDGES) + 1  # 150
HISTOGRAMS = {"rgb": HIST_DIM, "rgb+hsv": HIST_DIM + HSV_DIM}  # a model's card says which it was trained on
TRUNK_DIM = 1280
BANDS = 3  # horizontal bands pooled beside the global average: layout tells a top from a dress


def trunk_dim(pooling: str) -> int:
    return TRUNK_DIM * (1 + BANDS) if pooling == "bands" else TRUNK_DIM


def band_edges(h: int) -> list[int]:
    """Row edges of the horizontal bands on a feature map h rows high (each band at least one row)."""
    edges = np.linspace(0, h, BANDS + 1).round().astype(int).tolist()
    return [edges[0]] + [max(edges[i + 1], edges[i] + 1) for i in range(BANDS)]


def pool(fmap: np.ndarray, pooling: str) -> np.ndarray:
    """(N, 1280, h, w) feature map -> pooled features; the exported trunk does the
    same inside its graph, this is the reference for torch code (bench/finetune.py)."""
    g = fmap.mean((2, 3))
    if pooling != "bands":
        return g
    e = band_edges(fmap.shape[2])
    return np.concatenate([g] + [fmap[:, :, e[i] : e[i + 1]].mean((2, 3)) for i in range(BANDS)], axis=1)


def normalise(arr: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> the ImageNet-normalised float (3, H, W) a torch trunk takes."""
    return (arr.astype(np.float32).transpose(2, 0, 1) / 255.0 - MEAN) / STD


def pixel_cap(settings) -> None:
    """PIL's decompression-bomb cap from the settings (`max_image_pixels`), so the decoder
    refuses what the validator would (set when a tower loads, not at import)."""
    Image.MAX_IMAGE_PIXELS = int(settings.max_image_pixels)


def open_image(src: ImageLike, size: tuple[int, int]) -> Image.Image:
    """Decode and resize to the tower's input size (w, h); JPEG draft mode keeps it cheap."""
    if isinstance(src, Image.Image):
        img = src
    elif isinstance(src, (bytes, bytearray)):
        img = Image.open(io.BytesIO(src))
    else:
        img = Image.open(src)
    if getattr(img, "format", None) == "JPEG":
        img.draft("RGB", (size[0] * 2, size[1] * 2))
    img = ImageOps.exif_transpose(img) if hasattr(img, "getexif") else img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):  # 16-bit or float: rescale, not clip at 255
        arr = np.asarray(img, dtype=np.float32)
        top = float(arr.max()) if arr.size else 0.0
        arr = arr * (255.0 / top) if top > 255 else arr
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    if img.mode != "RGB":
        if img.mode in ("RGBA", "LA", "P"):
            img = img.convert("RGBA")
            bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, img)
        img = img.convert("RGB")
    return img.resize(size, Image.BILINEAR)


_LEVEL = (np.arange(256) * HIST_LEVELS) // 256
_BIN = [(_LEVEL * HIST_LEVELS ** (2 - c)).astype(np.uint8) for c in range(3)]  # per-channel share of the bin index


def pixels(src: ImageLike, size: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3) at the tower's input size: what the trunk graph takes."""
    return np.asarray(open_image(src, size), dtype=np.uint8)


_MASK = object()  # "work the foreground out": the histograms' default


def _foreground(arr: np.ndarray) -> np.ndarray | None:
    """Mask of the product's pixels (near-white background left out); None keeps
    every pixel (an all-white photo)."""
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    bg = (r > 224) & (g > 224) & (b > 224)
    return None if bg.size - np.count_nonzero(bg) < 0.05 * bg.size else ~bg


_HSV_LUT: np.ndarray | None = None


def _hsv_lut() -> np.ndarray:
    """The HSV bin of every colour at 6 bits a channel (the centre of each 4x4x4 cell;
    256 kB, built once in about 50 ms): a photo's histogram is then one lookup per
    pixel, no colour conversion."""
    global _HSV_LUT
    if _HSV_LUT is None:
        rgb = np.arange(1 << 18, dtype=np.uint32)
        cube = np.stack([(rgb >> 12) & 63, (rgb >> 6) & 63, rgb & 63], axis=1) * 4 + 2
        hsv = np.asarray(Image.fromarray(cube.astype(np.uint8).reshape(512, 512, 3)).convert("HSV")).reshape(-1, 3)
        h, sat, v = hsv[:, 0].astype(np.int32), hsv[:, 1].astype(np.int32), hsv[:, 2].astype(np.int32)
        nv = len(HSV_VALUE_EDGES) + 1
        vb = np.searchsorted(np.array(HSV_VALUE_EDGES), v, side="right")
        hue = (h * HSV_HUES + HSV_HUES // 2) // 256 % HSV_HUES  # bins centred on red, orange, ...
        grey = (sat < HSV_GREY_BELOW) | (sat * v < HSV_GREY_CHROMA * 255)  # chroma = s * v / 255
        _HSV_LUT = np.where(grey, HSV_HUES * 2 * nv + vb, (hue * 2 + (sat >= HSV_VIVID_FROM)) * nv + vb).astype(np.uint8)
    return _HSV_LUT


def hsv_histogram(arr: np.ndarray, fg: np.ndarray | None | object = _MASK) -> np.ndarray:
    """HSV histogram of the product's pixels, Hellinger-normalised like the RGB one.
    Low-saturation or low-chroma pixels go to grey bins by value alone: their hue is noise."""
    px = (arr.reshape(-1, 3) >> 2).astype(np.uint32)
    idx = _hsv_lut()[(px[:, 0] << 12) | (px[:, 1] << 6) | px[:, 2]]
    fg = _foreground(arr) if fg is _MASK else fg
    out = np.bincount(idx if fg is None else idx[fg.ravel()], minlength=HSV_DIM).astype(np.float32)
    return np.sqrt(out / max(out.sum(), 1.0))


def histogram(arr: np.ndarray, kind: str = "rgb") -> np.ndarray:
    """The colour histogram a model was trained with (`HISTOGRAMS`)."""
    if kind == "rgb":
        return colour_histogram(arr)
    if kind == "rgb+hsv":
        fg = _foreground(arr)
        return np.concatenate([colour_histogram(arr, fg), hsv_histogram(arr, fg)])
    raise ValueError(f"unknown colour histogram {kind!r}: one of {', '.join(HISTOGRAMS)}")


def colour_histogram(arr: np.ndarray, fg: np.ndarray | None | object = _MASK) -> np.ndarray:
    """Joint RGB histogram of the product's pixels (near-white background left out;
    `fg` is that mask when the caller has it, None for every pixel), square-rooted
    so its L2 norm is 1 (Hellinger): colour survives any projection.
    Lookup tables instead of integer arithmetic: a third of the time, same numbers."""
    fg = _foreground(arr) if fg is _MASK else fg
    idx = _BIN[0][arr[..., 0]]
    idx += _BIN[1][arr[..., 1]]
    idx += _BIN[2][arr[..., 2]]
    if fg is not None:
        idx[~fg] = HIST_DIM  # an extra bin, dropped below
    h = np.bincount(idx.ravel(), minlength=HIST_DIM + 1)[:HIST_DIM].astype(np.float32)
    return np.sqrt(h / max(h.sum(), 1.0))
