"""The image tower: a frozen ImageNet EfficientNet-Lite0 trunk plus a colour
histogram, and small heads trained on the catalogue (see `train.py`).

Two vectors per photo:
- the *aligned* vector (384-d, the text tower's space) for words-to-photo and
  photo-to-words search, from a trained MLP projection;
- the *visual* vector for photo-to-photo search (a shopper's photo of a product,
  "more like this"): PCA of the trunk features plus the colour histogram. Text
  alignment throws away the detail that tells two shirts apart, so it gets its own.
"""

from __future__ import annotations

import io
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps

from shopsearch.encoders.base import ImageLike, l2n
from shopsearch.encoders.export import export_effnet
from shopsearch.encoders.text import ort_session
from shopsearch.settings import Settings

log = logging.getLogger(__name__)

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]
HIST_LEVELS = 5
HIST_DIM = HIST_LEVELS**3
TRUNK_DIM = 1280
BANDS = 3  # horizontal bands pooled beside the global average: layout tells a top from a dress


def trunk_dim(pooling: str) -> int:
    return TRUNK_DIM * (1 + BANDS) if pooling == "bands" else TRUNK_DIM


def pool(fmap: np.ndarray, pooling: str) -> np.ndarray:
    """(N, 1280, h, w) feature map -> pooled features."""
    g = fmap.mean((2, 3))
    if pooling != "bands":
        return g
    h = fmap.shape[2]
    edges = np.linspace(0, h, BANDS + 1).round().astype(int)
    bands = [fmap[:, :, edges[i] : max(edges[i + 1], edges[i] + 1)].mean((2, 3)) for i in range(BANDS)]
    return np.concatenate([g] + bands, axis=1)
Image.MAX_IMAGE_PIXELS = 60_000_000


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


def colour_histogram(arr: np.ndarray) -> np.ndarray:
    """Joint RGB histogram of the product's pixels (near-white background left out),
    square-rooted so its L2 norm is 1 (Hellinger): colour survives any projection."""
    px = arr.reshape(-1, 3)
    fg = ~(px > 224).all(axis=1)
    if fg.mean() < 0.05:
        fg[:] = True
    q = (px[fg].astype(np.int32) * HIST_LEVELS) // 256
    idx = q[:, 0] * HIST_LEVELS * HIST_LEVELS + q[:, 1] * HIST_LEVELS + q[:, 2]
    h = np.bincount(idx, minlength=HIST_DIM).astype(np.float32)
    return np.sqrt(h / max(h.sum(), 1.0))


class Trunk:
    """EfficientNet-Lite0 on onnxruntime; decoding runs in threads beside it."""

    def __init__(self, settings: Settings) -> None:
        self.size = (settings.image_width, settings.image_height)
        self.session = ort_session(export_effnet(settings), settings.threads)
        self.batch = settings.encode_batch
        self.pool = ThreadPoolExecutor(max_workers=2)

    def _prep(self, src: ImageLike) -> tuple[np.ndarray, np.ndarray]:
        arr = np.asarray(open_image(src, self.size), dtype=np.uint8)
        pix = (arr.astype(np.float32).transpose(2, 0, 1) / 255.0 - MEAN) / STD
        return pix, colour_histogram(arr)

    def features(self, images: Sequence[ImageLike], pooling: str = "avg") -> tuple[np.ndarray, np.ndarray]:
        """(pooled trunk features N x 1280 (x4 for bands), colour histograms N x 125)."""
        n = len(images)
        feats = np.zeros((n, trunk_dim(pooling)), dtype=np.float32)
        hists = np.zeros((n, HIST_DIM), dtype=np.float32)
        for s in range(0, n, self.batch):
            chunk = list(self.pool.map(self._prep, images[s : s + self.batch]))
            pix = np.stack([c[0] for c in chunk])
            (f,) = self.session.run(None, {"pixels": pix})
            feats[s : s + len(chunk)] = pool(f, pooling)
            hists[s : s + len(chunk)] = np.stack([c[1] for c in chunk])
        return feats, hists


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


class Heads:
    """The trained part, in numpy: projection MLP, attribute heads, visual PCA."""

    def __init__(self, params: dict[str, np.ndarray], card: dict) -> None:
        self.p = {k: v.astype(np.float32) for k, v in params.items()}
        self.card = card
        self.labels: dict[str, list[str]] = card.get("heads", {})
        self.visual_alpha = float(card.get("visual_alpha", 0.5))
        self.pooling = str(card.get("pooling", "avg"))

    @staticmethod
    def inputs(feats: np.ndarray, hists: np.ndarray) -> np.ndarray:
        blocks = [l2n(feats[:, i : i + TRUNK_DIM]) for i in range(0, feats.shape[1], TRUNK_DIM)]
        return np.concatenate(blocks + [hists], axis=1)

    def hidden(self, x: np.ndarray) -> np.ndarray:
        return gelu(x @ self.p["w1"] + self.p["b1"])

    def aligned(self, h: np.ndarray) -> np.ndarray:
        return l2n(h @ self.p["w2"] + self.p["b2"])

    def visual(self, feats: np.ndarray, hists: np.ndarray) -> np.ndarray:
        z = l2n((l2n(feats[:, :TRUNK_DIM]) - self.p["pca_mean"]) @ self.p["pca"])
        return l2n(np.concatenate([z, self.visual_alpha * hists], axis=1))

    def attributes(self, h: np.ndarray, top: int = 5) -> list[dict]:
        """Per photo: the most likely label of each head, and the top labels'
        probabilities under "p" (used as soft attribute evidence at query time)."""
        out: list[dict] = [{"p": {}} for _ in range(len(h))]
        for name, labels in self.labels.items():
            logits = h @ self.p[f"head_{name}_w"] + self.p[f"head_{name}_b"]
            logits = logits - logits.max(1, keepdims=True)
            prob = np.exp(logits)
            prob /= prob.sum(1, keepdims=True)
            best = np.argsort(-prob, axis=1)[:, :top]
            for i in range(len(h)):
                out[i][name] = labels[int(best[i, 0])]
                out[i]["p"][name] = {labels[int(k)]: round(float(prob[i, k]), 4) for k in best[i] if prob[i, k] >= 0.01}
        return out


class ImageTower:
    """Trunk + trained heads, loaded once per process from a model folder."""

    def __init__(self, trunk: Trunk, heads: Heads, model_dir: Path) -> None:
        self.trunk = trunk
        self.heads = heads
        self.model_dir = model_dir
        self.id = heads.card.get("id", model_dir.name)
        self.dim = int(self.heads.p["w2"].shape[1])
        self.visual_dim = int(self.heads.p["pca"].shape[1] + HIST_DIM)

    @classmethod
    def load(cls, model_dir: Path, settings: Settings, trunk: Trunk | None = None) -> "ImageTower":
        model_dir = Path(model_dir)
        card_path, weights = model_dir / "card.json", model_dir / "model.npz"
        if not weights.exists():
            raise FileNotFoundError(
                f"No image model at {model_dir}: train one with `shopsearch train CATALOGUE --images DIR --out {model_dir}`"
            )
        card = json.loads(card_path.read_text()) if card_path.exists() else {}
        with np.load(weights) as z:
            params = {k: z[k] for k in z.files}
        return cls(trunk or Trunk(settings), Heads(params, card), model_dir)

    def encode_image_both(self, images: Sequence[ImageLike]) -> tuple[np.ndarray, np.ndarray]:
        feats, hists = self.trunk.features(images, self.heads.pooling)
        return self.from_features(feats, hists)

    def from_features(self, feats: np.ndarray, hists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = self.heads.hidden(Heads.inputs(feats, hists))
        return self.heads.aligned(h), self.heads.visual(feats, hists)

    def encode_image_full(self, images: Sequence[ImageLike]) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
        """Aligned vectors, visual vectors and predicted attributes in one trunk pass."""
        feats, hists = self.trunk.features(images, self.heads.pooling)
        h = self.heads.hidden(Heads.inputs(feats, hists))
        return self.heads.aligned(h), self.heads.visual(feats, hists), self.heads.attributes(h)

    def predict_attributes(self, images: Sequence[ImageLike]) -> list[dict[str, str]]:
        return self.encode_image_full(images)[2]

    def brand_words(self) -> list[str]:
        """The brand head's labels that are safe to spot in a query: training keeps
        those that titles use as a brand, not as a word ("denim" is left out)."""
        card = self.heads.card
        return list(card.get("query_brands", self.heads.labels.get("brand", [])))
