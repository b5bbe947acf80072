"""The visual vector: what photo-to-photo search ("find this photo", "more like this") compares.

Why its own trunk: fine-tuning teaches the trunk what a type and a colour look
like, which is what words need, and in doing so it forgets what tells two black
formal shoes apart. A shopper's photo of a product has to find that very
product. So a model with a fine-tuned trunk takes its visual vector from the
ImageNet EfficientNet-Lite0 as it came (frozen, fp32, the shared export) at
96x128. The vector is the global features, PCA'd on the catalogue's training
photos, plus the RGB colour histogram weighted by `alpha`.

On 300 cropped, rotated, recompressed large photos (`bench/image_query.py`),
rank 1 rose from 0.973 (the fine-tuned trunk's own features) to 0.990. The
second pass costs about a millisecond a photo. A model on a frozen trunk
already has ImageNet features, so its visual vector stays on its own trunk.

The space is fitted in training (`shopsearch.training.visual`, which holds the
settings and the measurements behind them); this module encodes photos with it,
at query and ingest time. `Words.build` and `TunedKeys.fit` write the arrays that
`VisualSpace.from_model` reads back (numpy only), so each stored format is in one
place.

    python -m shopsearch.training.visual MODEL CATALOGUE --images DIR --exclude "id % 5 == 0"

adds the visual space to a model trained before it existed, as `train` does."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np

from shopsearch.encoders.base import ImageLike, l2n
from shopsearch.encoders.pca import fit as fit_pca, project
from shopsearch.encoders.photo import HIST_DIM
from shopsearch.encoders.trunk import Trunk
from shopsearch.index.lexical import tokenize
from shopsearch.settings import Settings

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Words:
    """The training photos' title words: a vocabulary with its idf, and each key's word ids (CSR)."""

    vocab: list[str]
    idf: np.ndarray
    indptr: np.ndarray
    ids: np.ndarray
    top: int

    @classmethod
    def build(cls, titles: Sequence[str], top: int) -> tuple["Words", dict[str, np.ndarray]]:
        """From the key photos' titles, tokenised as queries are: (words, params to store)."""
        index: dict[str, int] = {}
        rows = [sorted({index.setdefault(t, len(index)) for t in tokenize(title)}) for title in titles]
        df = np.bincount(np.fromiter((i for r in rows for i in r), np.int64), minlength=len(index))
        idf = np.log(max(len(titles), 1) / np.maximum(df, 1)).astype(np.float32)
        indptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int32)
        ids = np.fromiter((i for r in rows for i in r), np.int32)
        vocab = list(index)
        params = {"visual_nb_vocab": np.array(vocab, dtype=np.str_), "visual_nb_idf": idf,
                  "visual_nb_indptr": indptr, "visual_nb_words": ids}
        return cls(vocab, idf, indptr, ids, top), params

    def borrow(self, top: np.ndarray, w: np.ndarray, *more: tuple[np.ndarray, np.ndarray, float]
               ) -> list[dict[str, float]]:
        """Per photo: word -> idf x the summed weight of the neighbours whose titles have it.
        `more`: other sets of neighbours (top, weights, share); the first set then weighs
        1 - their shares."""
        sets = [(top, w, 1.0 - sum(m[2] for m in more)), *more]
        out = []
        for i in range(len(top)):
            acc: dict[int, float] = {}
            for nbs, wts, share in sets:
                for j, wj in zip(nbs[i], wts[i]):
                    for t in self.ids[self.indptr[j] : self.indptr[j + 1]]:
                        acc[int(t)] = acc.get(int(t), 0.0) + share * float(wj)
            best = sorted(((v * float(self.idf[t]), t) for t, v in acc.items()), reverse=True)[: self.top]
            out.append({self.vocab[t]: round(v, 3) for v, t in best if v >= 1e-3})
        return out


class TunedKeys:
    """The same training photos as keys in the fine-tuned trunk's own space: its global
    features, PCA'd, stored int8 with a scale per row. Only ingest looks them up, so the
    float keys (34 MB for 33,436 photos) are made on first use, not in every searching
    process."""

    def __init__(self, mean: np.ndarray, pca: np.ndarray, codes: np.ndarray, scale: np.ndarray,
                 blend: float, words: float) -> None:
        self.mean, self.pca = mean.astype(np.float32), pca.astype(np.float32)
        self.codes, self.scale = codes, scale.astype(np.float32)
        self.blend, self.words = float(blend), float(words)

    @cached_property
    def keys(self) -> np.ndarray:
        """float32 unit rows, one a training photo."""
        return l2n(self.codes.astype(np.float32) * self.scale[:, None]).astype(np.float32)

    @staticmethod
    def fit(feats: np.ndarray, pick: np.ndarray, dim: int) -> dict[str, np.ndarray]:
        """The params to store, from the training photos' fine-tuned features (PCA fitted on `pick`)."""
        mean, pca = fit_pca(feats[pick], dim)
        keys = project(feats, mean, pca)
        scale = np.maximum(np.abs(keys).max(1), 1e-8) / 127.0
        return {"visual_nb_tmean": mean, "visual_nb_tpca": pca,
                "visual_nb_tkeys": np.round(keys / scale[:, None]).astype(np.int8),
                "visual_nb_tscale": scale.astype(np.float32)}

    @classmethod
    def load(cls, params: dict[str, np.ndarray], block: dict) -> "TunedKeys":
        return cls(params["visual_nb_tmean"], params["visual_nb_tpca"], params["visual_nb_tkeys"],
                   params["visual_nb_tscale"], block["blend"], block["words"])

    def project(self, feats: np.ndarray) -> np.ndarray:
        """The fine-tuned trunk's features of photos -> their keys in this space."""
        return project(feats, self.mean, self.pca)


class Neighbours:
    """The training photos' keys (int8, in the visual PCA space), their brand label ids and,
    where the model has them, their title words and their keys in the fine-tuned space."""

    def __init__(self, keys: np.ndarray, labels: np.ndarray, block: dict, words: Words | None = None,
                 tuned: TunedKeys | None = None) -> None:
        self.codes = keys
        self.labels = labels.astype(np.int64)
        self.k, self.tau, self.blend = int(block["k"]), float(block["tau"]), float(block["blend"])
        self.skip = float(block["skip_cosine"])
        self.head = str(block["head"])
        self.words = words
        self.tuned = tuned

    @cached_property
    def keys(self) -> np.ndarray:
        """float32, made on first use: as with the second neighbours' keys, only ingest looks them up."""
        return self.codes.astype(np.float32) / 127.0

    def nearest(self, keys: np.ndarray, chunk: int = 64, table: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """(N, k) indices of the nearest training photos and their softmax weights, among
        `table` (default: the visual space's keys).
        In chunks of rows: a whole catalogue against every key would not fit in memory, and
        chunks of a few MB reuse the allocator's memory. A 500-row chunk (67 MB of
        similarities) took 0.07-0.8 s a call, depending on fresh pages from the kernel;
        64-row chunks take 0.1 ms a photo every time."""
        table = self.keys if table is None else table
        if len(keys) > chunk:
            parts = [self.nearest(keys[i : i + chunk], chunk, table) for i in range(0, len(keys), chunk)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        sims = keys @ table.T
        sims[sims >= self.skip] = -1.0
        k = min(self.k, sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        s = np.take_along_axis(sims, top, 1)
        w = np.exp((s - s.max(1, keepdims=True)) / self.tau)
        return top, (w / w.sum(1, keepdims=True)).astype(np.float32)

    def vote(self, top: np.ndarray, w: np.ndarray, n_labels: int) -> np.ndarray:
        """(N, n_labels) distribution over the head's labels from the nearest training photos."""
        out = np.zeros((len(top), n_labels), np.float32)
        lab = self.labels[top]
        rows = np.repeat(np.arange(len(top)), top.shape[1])
        ok = lab.ravel() >= 0
        np.add.at(out, (rows[ok], lab.ravel()[ok]), w.ravel()[ok])
        total = out.sum(1, keepdims=True)
        return out / np.where(total > 0, total, 1.0)  # a row no labelled photo reached stays all zero


class VisualSpace:
    """The frozen trunk plus the fitted PCA: photos in, visual vectors out."""

    def __init__(self, trunk: Trunk, mean: np.ndarray, pca: np.ndarray, alpha: float,
                 neighbours: Neighbours | None = None) -> None:
        self.trunk = trunk
        self.mean = mean.astype(np.float32)
        self.pca = pca.astype(np.float32)
        self.alpha = float(alpha)
        self.neighbours = neighbours
        self.dim = int(self.pca.shape[1] + HIST_DIM)

    @classmethod
    def from_model(cls, card: dict, params: dict[str, np.ndarray], settings: Settings) -> "VisualSpace | None":
        """The model's visual space, or None for a model without one (it uses its own trunk)."""
        block = card.get("visual")
        if not block:
            return None
        trunk = Trunk(settings, size=tuple(block["input_size"]))
        nb = block.get("neighbours")
        words = None
        if nb and nb.get("words"):
            words = Words([str(v) for v in params["visual_nb_vocab"]], params["visual_nb_idf"],
                          params["visual_nb_indptr"], params["visual_nb_words"], int(nb["words"]["top"]))
        tuned = TunedKeys.load(params, nb["tuned"]) if nb and nb.get("tuned") else None
        neighbours = Neighbours(params["visual_nb_keys"], params["visual_nb_labels"], nb, words, tuned) if nb else None
        return cls(trunk, params["visual_mean"], params["visual_pca"], block["alpha"], neighbours)

    def keys(self, feats: np.ndarray) -> np.ndarray:
        """Global trunk features -> the PCA part alone (the neighbours' lookup key)."""
        return project(feats, self.mean, self.pca)

    def vectors(self, feats: np.ndarray, hists: np.ndarray) -> np.ndarray:
        """Global trunk features (N x 1280) and RGB histograms (N x 125) -> visual vectors."""
        return l2n(np.concatenate([self.keys(feats), self.alpha * hists[:, :HIST_DIM]], axis=1))

    def encode(self, images: Sequence[ImageLike], labels: dict[str, list[str]] | None = None,
               tuned_feats: np.ndarray | None = None) -> tuple[np.ndarray, "Evidence"]:
        """Visual vectors, and with the heads' `labels` what the nearest training photos say
        (`tuned_feats`: the same photos through the model's fine-tuned trunk, for its second
        neighbours)."""
        feats, hists = self.trunk.features(images, "avg", "rgb")
        return self.vectors(feats, hists), self.evidence(feats, labels, tuned_feats)

    def evidence(self, feats: np.ndarray, labels: dict[str, list[str]] | None,
                 tuned_feats: np.ndarray | None = None) -> "Evidence":
        """The neighbours' votes (head -> (votes, blend), as the heads blend them) and borrowed
        title words for photos' global trunk features; empty without neighbours or labels.
        With `tuned_feats` (the fine-tuned trunk's features) and a model that has keys in that
        space, both sets of neighbours vote (averaged) and lend words."""
        nb = self.neighbours
        if nb is None or not labels:
            return Evidence({}, [])
        top, w = nb.nearest(self.keys(feats))
        n = len(labels[nb.head]) if nb.head in labels else 0
        vote, blend, more = (nb.vote(top, w, n) if n else None), nb.blend, []
        if nb.tuned is not None and tuned_feats is not None:
            t2, w2 = nb.nearest(nb.tuned.project(tuned_feats), table=nb.tuned.keys)
            vote = mean_votes(vote, nb.vote(t2, w2, n)) if n else None
            blend, more = nb.tuned.blend, [(t2, w2, nb.tuned.words)]
        votes = {nb.head: (vote, blend)} if vote is not None else {}
        return Evidence(votes, nb.words.borrow(top, w, *more) if nb.words is not None else [])


def mean_votes(*votes: np.ndarray) -> np.ndarray:
    """The average of several sets' vote distributions, per photo over the sets that have a
    vote at all: a set whose neighbours carry no brand must not halve the other's."""
    has = sum((v.sum(1, keepdims=True) > 0).astype(np.float32) for v in votes)
    return (sum(votes) / np.maximum(has, 1.0)).astype(np.float32)


@dataclass
class Evidence:
    """What a photo's nearest training photos say: brand votes for the heads, and title words."""

    votes: dict[str, tuple[np.ndarray, float]]
    words: list[dict[str, float]]
