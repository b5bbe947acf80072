"""The image tower: an EfficientNet-Lite0 trunk (fine-tuned on the catalogue by
`finetune.py`, or the frozen ImageNet one) plus colour histograms, and small heads
trained on the catalogue (see `train.py`).

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
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image, ImageOps

from shopsearch.encoders.base import ImageLike, l2n

if TYPE_CHECKING:
    from shopsearch.encoders.visual import VisualSpace
from shopsearch.encoders.export import export_effnet
from shopsearch.encoders.text import ort_session
from shopsearch.settings import Settings

log = logging.getLogger(__name__)

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


def trunk_cache_key(own: dict) -> str:
    """The feature-cache key of a model's own trunk, from its card's `trunk` block."""
    return f"{'ft' if own.get('finetuned') else 'int8'}-{own['key']}"


class Trunk:
    """EfficientNet-Lite0 on onnxruntime (normalisation and pooling in its graph);
    the next batch's photos are decoded in threads while the network runs."""

    def __init__(self, settings: Settings, path: Path | None = None, key: str = "", spin: bool = False,
                 size: tuple[int, int] | None = None) -> None:
        """`path`: a model's own trunk (int8 from `export.quantize_trunk`, or fine-tuned
        by `finetune.py`), default the shared fp32 export; `key` names its feature
        cache, so features of different trunks never mix; `size` (w, h): the input
        that trunk was built for (default the settings'); `spin`: let onnxruntime's
        idle workers spin (off: they starve the decode thread)."""
        self.size = tuple(size) if size else (settings.image_width, settings.image_height)
        self.path = Path(path) if path else export_effnet(settings, self.size)
        if path is not None and not key:
            raise ValueError("a model's own trunk needs its key: its features must not share the fp32 trunk's cache")
        self.key = key
        self.session = ort_session(self.path, settings.threads, spin)
        self.batch = settings.encode_batch
        self.pool = ThreadPoolExecutor(max_workers=2)

    def _prep(self, src: ImageLike, hist: str = "rgb") -> tuple[np.ndarray, np.ndarray]:
        """uint8 (H, W, 3) pixels at the input size, and the colour histogram."""
        arr = pixels(src, self.size)
        return arr, histogram(arr, hist)

    def run(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) -> pooled features (N, 1280 * (1 + BANDS))."""
        return self.session.run(None, {"rgb": rgb})[0]

    def features(
        self, images: Sequence[ImageLike], pooling: str = "avg", hist: str = "rgb"
    ) -> tuple[np.ndarray, np.ndarray]:
        """(pooled trunk features N x 1280 (x4 for bands), colour histograms N x HISTOGRAMS[hist])."""
        n = len(images)
        dim = trunk_dim(pooling)
        feats = np.zeros((n, dim), dtype=np.float32)
        hists = np.zeros((n, HISTOGRAMS[hist]), dtype=np.float32)

        def decode(start: int) -> list[tuple[np.ndarray, np.ndarray]]:
            return [self._prep(x, hist) for x in images[start : start + self.batch]]

        starts = list(range(0, n, self.batch))
        ahead = self.pool.submit(decode, 0) if n else None
        for j, s in enumerate(starts):
            chunk = ahead.result()
            # decode the next batch while this one is on the network
            ahead = self.pool.submit(decode, starts[j + 1]) if j + 1 < len(starts) else None
            feats[s : s + len(chunk)] = self.run(np.stack([c[0] for c in chunk]))[:, :dim]
            hists[s : s + len(chunk)] = np.stack([c[1] for c in chunk])
        return feats, hists


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


class Heads:
    """The trained part, in numpy: projection MLP, attribute heads, visual PCA."""

    def __init__(self, params: dict[str, np.ndarray], card: dict) -> None:
        from shopsearch.encoders.memory import CaptionMemory

        self.memory = CaptionMemory.from_params(params, card)  # None for models without one
        self.p = {k: v.astype(np.float32) for k, v in params.items() if not k.startswith(("memory_", "visual_"))}
        self.card = card
        self.labels: dict[str, list[str]] = card.get("heads", {})
        self.visual_alpha = float(card.get("visual_alpha", 0.5))
        self.pooling = str(card.get("pooling", "avg"))
        self.histogram = str(card.get("histogram", "rgb"))

    @staticmethod
    def inputs(feats: np.ndarray, hists: np.ndarray) -> np.ndarray:
        blocks = [l2n(feats[:, i : i + TRUNK_DIM]) for i in range(0, feats.shape[1], TRUNK_DIM)]
        return np.concatenate(blocks + [hists], axis=1)

    def hidden(self, x: np.ndarray) -> np.ndarray:
        return gelu(x @ self.p["w1"] + self.p["b1"])

    def aligned(self, h: np.ndarray, feats: np.ndarray | None = None) -> np.ndarray:
        """The photo in the text space; with the trunk features `feats` and a caption
        memory, plus the captions of the training photos it looks like (memory.py)."""
        z = l2n(h @ self.p["w2"] + self.p["b2"])
        if self.memory is None or feats is None:
            return z
        from shopsearch.encoders.memory import memory_keys

        return self.memory.apply(z, memory_keys(feats, self.p["pca_mean"], self.p["pca"]))

    def visual(self, feats: np.ndarray, hists: np.ndarray) -> np.ndarray:
        """PCA of the global features plus the RGB histogram (the HSV one, where the
        model has it, feeds the heads only: the visual vector keeps one layout)."""
        z = l2n((l2n(feats[:, :TRUNK_DIM]) - self.p["pca_mean"]) @ self.p["pca"])
        return l2n(np.concatenate([z, self.visual_alpha * hists[:, :HIST_DIM]], axis=1))

    def probabilities(self, h: np.ndarray, name: str, votes: dict | None = None) -> np.ndarray:
        """One head's label probabilities; with `votes` (head -> (distribution, blend), from
        the visual space's neighbours) blended with what the nearest training photos show."""
        logits = h @ self.p[f"head_{name}_w"] + self.p[f"head_{name}_b"]
        prob = np.exp(logits - logits.max(1, keepdims=True))
        prob /= prob.sum(1, keepdims=True)
        if votes and name in votes:
            dist, blend = votes[name]
            prob = (1.0 - blend) * prob + blend * dist
        return prob

    def attributes(self, h: np.ndarray, top: int = 10, votes: dict | None = None, min_p: float = 0.001) -> list[dict]:
        """Per photo: the most likely label of each head, and the top labels'
        probabilities under "p" (used as soft attribute evidence at query time). Words
        against photos only score log(1 + p / floor), which tells 0.005 from 0.0001: the
        top 5 at 0.01 or more read KAGL R@10 0.367, the top 10 at 0.001 or more 0.389,
        every probability 0.392 (`bench/seeds.py` harness)."""
        out: list[dict] = [{"p": {}} for _ in range(len(h))]
        for name, labels in self.labels.items():
            prob = self.probabilities(h, name, votes)
            best = np.argsort(-prob, axis=1)[:, :top]
            for i in range(len(h)):
                out[i][name] = labels[int(best[i, 0])]
                out[i]["p"][name] = {labels[int(k)]: round(float(prob[i, k]), 4) for k in best[i] if prob[i, k] >= min_p}
        return out


class ImageTower:
    """Trunk + trained heads, loaded once per process from a model folder."""

    def __init__(self, trunk: Trunk, heads: Heads, model_dir: Path, visual: "VisualSpace | None" = None) -> None:
        """`visual`: the frozen ImageNet space a fine-tuned model's visual vectors come
        from (visual.py); None: they come from `trunk` and the heads' PCA."""
        self.trunk = trunk
        self.heads = heads
        self.model_dir = model_dir
        self.visual_space = visual
        self.id = heads.card.get("id", model_dir.name)
        self.dim = int(self.heads.p["w2"].shape[1])
        self.visual_dim = visual.dim if visual else int(self.heads.p["pca"].shape[1] + HIST_DIM)

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
        own = card.get("trunk") or {}
        if own.get("file"):  # the model was trained on its own (int8 or fine-tuned) trunk: serve with the same one
            key, path = trunk_cache_key(own), model_dir / own["file"]
            if not path.is_file():
                raise FileNotFoundError(f"{model_dir} lacks {own['file']}, the trunk its heads were trained on: "
                                        "copy the whole model folder, or retrain")
            if trunk is None or trunk.key != key:
                trunk = Trunk(settings, path, key, size=tuple(card["input_size"]) if card.get("input_size") else None)
        elif trunk is None or trunk.key:
            trunk = Trunk(settings)
        from shopsearch.encoders.visual import VisualSpace

        return cls(trunk, Heads(params, card), model_dir, VisualSpace.from_model(card, params, settings))

    def encode_image_both(self, images: Sequence[ImageLike]) -> tuple[np.ndarray, np.ndarray]:
        aligned, visual, _ = self._encode(images, attributes=False)
        return aligned, visual

    def encode_image_full(self, images: Sequence[ImageLike]) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
        """Aligned vectors, visual vectors and predicted attributes (one pass of each trunk)."""
        aligned, visual, attrs = self._encode(images, attributes=True)
        return aligned, visual, attrs

    def _encode(self, images: Sequence[ImageLike], attributes: bool) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        feats, hists = self.trunk.features(images, self.heads.pooling, self.heads.histogram)
        h = self.heads.hidden(Heads.inputs(feats, hists))
        votes: dict = {}
        words: list[dict[str, float]] = []
        if self.visual_space:
            visual, ev = self.visual_space.encode(images, self.heads.labels if attributes else None, feats)
            votes, words = ev.votes, ev.words
        else:
            visual = self.heads.visual(feats, hists)
        if not attributes:
            return self.heads.aligned(h, feats), visual, []
        attrs = self.heads.attributes(h, votes=votes)
        for a, w in zip(attrs, words):  # the nearest training photos' title words (visual.Words)
            a["words"] = w
        return self.heads.aligned(h, feats), visual, attrs

    def predict_attributes(self, images: Sequence[ImageLike]) -> list[dict[str, str]]:
        return self.encode_image_full(images)[2]

    def brand_words(self) -> list[str]:
        """The brand head's labels that are safe to spot in a query: training keeps
        those that titles use as a brand, not as a word ("denim" is left out)."""
        card = self.heads.card
        return list(card.get("query_brands", self.heads.labels.get("brand", [])))
