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

Its keys are the trunk's global features in the tower's own PCA space
(`pca.project` with the heads' `pca_mean` and `pca`). Built in training
(`shopsearch.training`); opt-in (`shopsearch train --memory 5`, or
`python -m shopsearch.training.memory` on a trained model). On the shipped
fashion model it raised KAGL R@1 from 0.044 to 0.069 and MRR from 0.125 to
0.144, left R@10, dev-x and dev-t flat, and cost the distorted-photo rank-1
(0.973 to 0.963): the borrowed captions pull a photo's aligned vector towards
its look-alikes (docs/image-tower.md)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from shopsearch.encoders.base import l2n

log = logging.getLogger(__name__)

SCALE = 127.0  # keys and values are unit vectors, stored as int8 (a quarter of float32's size)


@dataclass
class MemoryConfig:
    k: int = 5  # neighbours lent per photo
    weight: float = 1.0  # of the borrowed captions against the photo's own aligned vector
    tau: float = 0.05  # softmax temperature over the neighbours' cosines
    self_cosine: float = 0.995  # at or above: the very same photo, never lent to itself


class CaptionMemory:
    """The training photos' keys and captions (int8 on disk); `params` and `card` write it, `from_params` reads it."""

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
