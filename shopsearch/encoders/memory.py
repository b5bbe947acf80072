"""The caption memory: a photo borrows the captions of the training photos it looks like.

Why: a shopper's words often name what no 72x96 photo shows, a brand or a product
line ("Puma Men Danny Blue Slipper"). The same line in another colour, or the
brand's other products shot the same way, are among the training photos, with
their captions. Adding the captions of a photo's nearest training photos to its
aligned vector lends those words to products whose own text is never used
(photo-only matching), as a k-nearest-neighbour model would.

Only training products are in the memory (never the unseen split nor the
validation slice), and a photo never borrows its own caption: a neighbour at
cosine `self_cosine` or more is the very same photo and is skipped, so products
of the training catalogue are encoded as a new product would be.

Opt-in (`shopsearch train --memory 5`, or `python -m shopsearch.encoders.memory`
on a trained model). On the shipped fashion model it raised KAGL R@1 from 0.044
to 0.069 and MRR from 0.125 to 0.144, left R@10, dev-x and dev-t flat, and cost
the distorted-photo rank-1 (0.973 to 0.963): the borrowed captions pull a
photo's aligned vector towards its look-alikes (docs/image-tower.md)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from shopsearch.encoders.base import l2n
from shopsearch.encoders.image import TRUNK_DIM

log = logging.getLogger(__name__)

SCALE = 127.0  # keys and values are unit vectors, stored as int8 (a quarter of float32's size)


@dataclass
class MemoryConfig:
    k: int = 5  # neighbours lent per photo
    weight: float = 1.0  # of the borrowed captions against the photo's own aligned vector
    tau: float = 0.05  # softmax temperature over the neighbours' cosines
    self_cosine: float = 0.995  # at or above: the very same photo, never lent to itself


def memory_keys(feats: np.ndarray, pca_mean: np.ndarray, pca: np.ndarray) -> np.ndarray:
    """Lookup keys: the trunk's global features in the visual vector's PCA space."""
    return l2n((l2n(feats[:, :TRUNK_DIM]) - pca_mean) @ pca).astype(np.float32)


class CaptionMemory:
    def __init__(self, keys: np.ndarray, values: np.ndarray, cfg: MemoryConfig) -> None:
        self.keys = l2n(keys.astype(np.float32))
        self.values = l2n(values.astype(np.float32))
        self.cfg = cfg

    def lend(self, keys: np.ndarray, chunk: int = 2048) -> np.ndarray:
        """(N, 384): the softmax-weighted mean caption of each query's nearest
        training photos, its own photo left out."""
        k = min(self.cfg.k, len(self.keys))
        out = np.zeros((len(keys), self.values.shape[1]), np.float32)
        for s in range(0, len(keys), chunk):
            sim = keys[s : s + chunk] @ self.keys.T
            sim[sim >= self.cfg.self_cosine] = -2.0
            top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
            st = np.take_along_axis(sim, top, 1)
            w = np.exp((st - st.max(1, keepdims=True)) / self.cfg.tau)
            w[st <= -2.0] = 0.0
            w /= np.maximum(w.sum(1, keepdims=True), 1e-12)
            out[s : s + chunk] = np.einsum("nk,nkd->nd", w, self.values[top])
        return out

    def apply(self, aligned: np.ndarray, keys: np.ndarray) -> np.ndarray:
        return l2n(aligned + self.cfg.weight * l2n(self.lend(keys)))

    def params(self) -> dict[str, np.ndarray]:
        q = lambda x: np.clip(np.round(x * SCALE), -127, 127).astype(np.int8)  # noqa: E731
        return {"memory_keys": q(self.keys), "memory_values": q(self.values)}

    def card(self) -> dict:
        return {"products": int(len(self.keys)), **asdict(self.cfg)}

    @classmethod
    def from_params(cls, params: dict[str, np.ndarray], card: dict) -> "CaptionMemory | None":
        if "memory_keys" not in params or not card.get("memory"):
            return None
        cfg = MemoryConfig(**{k: v for k, v in card["memory"].items() if k in MemoryConfig.__dataclass_fields__})
        return cls(params["memory_keys"] / SCALE, params["memory_values"] / SCALE, cfg)


def add_to_model(model_dir: Path, catalogue: Path, images: Path, exclude: str | None, cfg: MemoryConfig | None = None,
                 settings=None) -> dict:
    """Build the caption memory of a trained model from the products it was trained
    on (the card's exclusion rule and validation slice left out) and write it into
    its folder: the same memory `train` builds, without training again."""
    from shopsearch.encoders.addon import training_products, write_part
    from shopsearch.encoders.features import cached_features
    from shopsearch.encoders.image import ImageTower
    from shopsearch.encoders.text import MiniLMText
    from shopsearch.encoders.train import cached_text
    from shopsearch.settings import get_settings

    s = settings or get_settings()
    model_dir = Path(model_dir)
    tower = ImageTower.load(model_dir, s)
    card = json.loads((model_dir / "card.json").read_text())
    products, photos, keep = training_products(card, catalogue, images, exclude)
    cache = Path(s.cache) / "features"
    feats, _ = cached_features([photos[i][0] for i in keep], tower.trunk, cache, None, "memory photos",
                               tower.heads.pooling, tower.heads.histogram)
    texts = cached_text(MiniLMText(s), [products[i].caption() for i in keep], cache)
    mem = CaptionMemory(memory_keys(feats, tower.heads.p["pca_mean"], tower.heads.p["pca"]), texts,
                        cfg or MemoryConfig())
    card["memory"] = mem.card() | {"built_by": "shopsearch.encoders.memory.add_to_model", "excluded": exclude}
    write_part(model_dir, card, "memory_", mem.params())
    log.info("caption memory of %d training photos written to %s", len(keep), model_dir)
    return card["memory"]


def main() -> None:
    """python -m shopsearch.encoders.memory MODEL CATALOGUE --images DIR [--exclude RULE]"""
    from shopsearch.encoders.addon import arguments

    a = arguments(main.__doc__).parse_args()
    logging.basicConfig(level=logging.INFO)
    print(json.dumps(add_to_model(a.model, a.catalogue, a.images, a.exclude), indent=2))


if __name__ == "__main__":
    main()
