"""The image tower: an EfficientNet-Lite0 trunk (fine-tuned on the catalogue by
`shopsearch.training.finetune`, or the frozen ImageNet one) plus colour histograms,
and small heads trained on the catalogue (`shopsearch.training.train`).

Two vectors per photo:
- the *aligned* vector (384-d, the text tower's space) for words-to-photo and
  photo-to-words search, from a trained MLP projection;
- the *visual* vector for photo-to-photo search (a shopper's photo of a product,
  "more like this"): PCA of the trunk features plus the colour histogram. Text
  alignment throws away the detail that tells two shirts apart, so it gets its own.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from shopsearch.encoders.base import ImageLike, l2n
from shopsearch.encoders.memory import CaptionMemory
from shopsearch.encoders.pca import project
from shopsearch.encoders.photo import HIST_DIM, TRUNK_DIM, pixel_cap
from shopsearch.encoders.trunk import Trunk, trunk_cache_key
from shopsearch.encoders.visual import VisualSpace
from shopsearch.settings import Settings

log = logging.getLogger(__name__)


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


class Heads:
    """The trained part, in numpy: projection MLP, attribute heads, visual PCA."""

    def __init__(self, params: dict[str, np.ndarray], card: dict) -> None:
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
        return self.memory.apply(z, project(feats, self.p["pca_mean"], self.p["pca"]))

    def visual(self, feats: np.ndarray, hists: np.ndarray) -> np.ndarray:
        """PCA of the global features plus the RGB histogram (the HSV one, where the
        model has it, feeds the heads only: the visual vector keeps one layout)."""
        z = project(feats, self.p["pca_mean"], self.p["pca"])
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

    def __init__(self, trunk: Trunk, heads: Heads, model_dir: Path, visual: VisualSpace | None = None) -> None:
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
        pixel_cap(settings)
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
        return cls(trunk, Heads(params, card), model_dir, VisualSpace.from_model(card, params, settings))

    def encode_image_both(self, images: Sequence[ImageLike]) -> tuple[np.ndarray, np.ndarray]:
        aligned, visual, _ = self._encode(images, attributes=False)
        return aligned, visual

    def encode_image_full(self, images: Sequence[ImageLike]) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
        """Aligned vectors, visual vectors and predicted attributes (one pass of each trunk)."""
        aligned, visual, attrs = self._encode(images, attributes=True)
        return aligned, visual, attrs

    def encode_image_heads(self, images: Sequence[ImageLike]) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        """Vectors and the heads' own attribute probabilities, without the neighbours' brand
        votes and borrowed words: what a query photo needs (its type), at a query's cost
        (the neighbours' keys stay unloaded in a searching process)."""
        feats, hists = self.trunk.features(images, self.heads.pooling, self.heads.histogram)
        h = self.heads.hidden(Heads.inputs(feats, hists))
        visual = self.visual_space.encode(images, None, feats)[0] if self.visual_space else self.heads.visual(feats, hists)
        return self.heads.aligned(h, feats), visual, self.heads.attributes(h)

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
