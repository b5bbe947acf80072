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

    python -m shopsearch.encoders.visual MODEL CATALOGUE --images DIR --exclude "id % 5 == 0"

adds the visual space to a model trained before it existed, as `train` does."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from shopsearch.encoders.base import ImageLike, l2n
from shopsearch.settings import Settings, get_settings

log = logging.getLogger(__name__)

KIND = "efficientnet-lite0 (ImageNet, frozen, fp32)"


@dataclass(frozen=True)
class VisualConfig:
    width: int = 96
    height: int = 128  # 96x128: as good as 144x192 on the distorted photos, half the time
    pca: int = 128  # 128 or 256 dimensions rank the same; 128 halves the index column
    alpha: float = 2.0  # colour histogram weight (1.0 / 2.0: 0.980 / 0.990 at rank 1)
    fit_photos: int = 20000  # training photos the PCA is fitted on
    # Brand neighbours: a photo's brand probabilities are blended with the brands of its
    # k nearest training photos in this space (the same line in another colour shares
    # the brand; ImageNet features keep the line, fine-tuned ones the type). Chosen on
    # the validation slice: brand top-1 0.419 -> 0.472 at k 10, tau 0.02, blend 0.3.
    neighbours_k: int = 10  # 0: none
    neighbours_tau: float = 0.02
    neighbours_blend: float = 0.3
    skip_cosine: float = 0.995  # a training photo never votes for itself (or its byte-identical twin)
    # Borrowed words: each photo also keeps the title words of the same k neighbours,
    # weighted as they vote and by idf, for matching words against photos only (the line
    # name "Danny" in "Puma Men Danny Blue Slipper" is on a training photo of the same
    # line in another colour). The most weighty `words_top` are stored per product.
    words_top: int = 32  # 0: none
    # Second neighbours, in the fine-tuned trunk's own space (its global features, PCA'd to
    # `tuned_pca`, int8 per row): ImageNet features find the same line, fine-tuned ones the
    # same kind of product, and the two sets of neighbours are right on different photos.
    # Both vote (averaged, blended at `tuned_blend`) and both lend words (the tuned set's
    # share `tuned_words`). On the 1,039 validation names (bench/photo_text.py's queries, in
    # bench/seeds.py's harness) R@1 / R@10 / MRR 0.091 / 0.352 / 0.176 -> 0.110 / 0.366 / 0.195
    # at 256 dimensions (PCA 128: 0.105 / 0.367 / 0.190; the whole 1,280: 0.119 / 0.374 / 0.202,
    # but 43 MB and a millisecond a photo).
    tuned_pca: int = 256  # 0: none
    tuned_blend: float = 0.5
    tuned_words: float = 0.5


def _fit_pca(x: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows -> their mean and top `dim` principal axes (features x dim), float32."""
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean.astype(np.float32), vt[: min(dim, vt.shape[0])].T.astype(np.float32)


def _project(feats: np.ndarray, mean: np.ndarray, pca: np.ndarray) -> np.ndarray:
    """A trunk's global features -> unit rows in a fitted PCA space."""
    from shopsearch.encoders.image import TRUNK_DIM

    return l2n((l2n(feats[:, :TRUNK_DIM]) - mean) @ pca).astype(np.float32)


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
        from shopsearch.index.lexical import tokenize

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
        from shopsearch.encoders.image import TRUNK_DIM

        mean, pca = _fit_pca(l2n(feats[pick][:, :TRUNK_DIM]), dim)
        keys = _project(feats, mean, pca)
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
        return _project(feats, self.mean, self.pca)


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

    def __init__(self, trunk, mean: np.ndarray, pca: np.ndarray, alpha: float,
                 neighbours: Neighbours | None = None) -> None:
        from shopsearch.encoders.image import HIST_DIM

        self.trunk = trunk
        self.mean = mean.astype(np.float32)
        self.pca = pca.astype(np.float32)
        self.alpha = float(alpha)
        self.neighbours = neighbours
        self.dim = int(self.pca.shape[1] + HIST_DIM)

    @classmethod
    def from_model(cls, card: dict, params: dict[str, np.ndarray], settings: Settings) -> "VisualSpace | None":
        """The model's visual space, or None for a model without one (it uses its own trunk)."""
        from shopsearch.encoders.image import Trunk

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
        return _project(feats, self.mean, self.pca)

    def vectors(self, feats: np.ndarray, hists: np.ndarray) -> np.ndarray:
        """Global trunk features (N x 1280) and RGB histograms (N x 125) -> visual vectors."""
        from shopsearch.encoders.image import HIST_DIM

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


def fit(photos: Sequence[str], settings: Settings, cfg: VisualConfig | None = None, seed: int = 0,
        brands: Sequence[int] | None = None, titles: Sequence[str] | None = None,
        tuned_feats: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Fit the PCA on (up to `fit_photos` of) the training photos: (params, card block).
    `brands`: each photo's label id in the brand head (-1: none), for the brand neighbours;
    `titles`: each photo's product title, for the borrowed words; `tuned_feats`: each
    photo's features from the model's fine-tuned trunk, for the second neighbours."""
    from shopsearch.encoders.features import cached_features
    from shopsearch.encoders.image import TRUNK_DIM, Trunk

    cfg = cfg or VisualConfig()
    photos = list(photos)
    pick = np.arange(len(photos))
    if len(photos) > cfg.fit_photos:
        pick = np.sort(np.random.default_rng(seed).choice(len(photos), cfg.fit_photos, replace=False))
    trunk = Trunk(settings, size=(cfg.width, cfg.height))
    # neighbours for the brand vote and/or the borrowed words (a catalogue without brands still has titles)
    use_nb = (brands is not None or (titles is not None and cfg.words_top > 0)) and cfg.neighbours_k > 0
    feats, _ = cached_features(photos if use_nb else [photos[i] for i in pick], trunk,
                               Path(settings.cache) / "features", None, "visual space", "avg", "rgb")
    mean, pca = _fit_pca(l2n((feats[pick] if use_nb else feats)[:, :TRUNK_DIM]), cfg.pca)
    params = {"visual_mean": mean, "visual_pca": pca}
    block = {"trunk": KIND, "input_size": [cfg.width, cfg.height], "pca": int(pca.shape[1]), "alpha": cfg.alpha,
             "fit_photos": len(pick)}
    if use_nb:
        keys = _project(feats, mean, pca)
        params["visual_nb_keys"] = np.round(keys * 127).astype(np.int8)
        params["visual_nb_labels"] = np.asarray(brands if brands is not None else np.full(len(photos), -1), np.int16)
        block["neighbours"] = {"head": "brand", "k": cfg.neighbours_k, "tau": cfg.neighbours_tau,
                               "blend": cfg.neighbours_blend, "skip_cosine": cfg.skip_cosine, "photos": len(photos)}
        if titles is not None and cfg.words_top > 0:
            words, wparams = Words.build(titles, cfg.words_top)
            params.update(wparams)
            block["neighbours"]["words"] = {"vocab": len(words.vocab), "top": cfg.words_top}
        if tuned_feats is not None and cfg.tuned_pca > 0:
            params.update(TunedKeys.fit(np.asarray(tuned_feats), pick, cfg.tuned_pca))
            block["neighbours"]["tuned"] = {"pca": int(params["visual_nb_tpca"].shape[1]), "blend": cfg.tuned_blend,
                                            "words": cfg.tuned_words}
    return params, block


def brand_ids(products, labels: list[str], min_products: int) -> np.ndarray:
    """Each product's brand as the brand head was trained on it (brand column, else the title's
    prefix), as an index into the head's labels; -1 where it has none the head knows."""
    from shopsearch.catalog.brand import label_brands

    where = {b: i for i, b in enumerate(labels)}
    names = label_brands([p.brand for p in products], [p.title for p in products], min_products)
    return np.array([where.get(b, -1) for b in names], np.int16)


def model_id(base: str, block: dict) -> str:
    """The model's id with its visual space in it: an index built with other visual
    vectors (or other neighbours' brand evidence) then refuses this model's queries."""
    tag = hashlib.sha1(json.dumps({k: block[k] for k in ("trunk", "input_size", "pca", "alpha", "neighbours")
                                   if k in block}, sort_keys=True).encode()).hexdigest()[:6]
    return f"{base}-v{tag}"


def add_to_model(model_dir: Path, catalogue: Path, images: Path, exclude: str | None,
                 cfg: VisualConfig | None = None, settings: Settings | None = None) -> dict:
    """Fit the visual space on a trained model's training products (validation and the
    excluded rows left out, as `train` does) and write it into the model folder."""
    from shopsearch.encoders.addon import training_products, write_part
    from shopsearch.encoders.features import cached_features
    from shopsearch.encoders.image import ImageTower

    s = settings or get_settings()
    model_dir = Path(model_dir)
    card = json.loads((model_dir / "card.json").read_text())
    if not (card.get("trunk") or {}).get("finetuned"):
        raise ValueError(f"{model_dir} runs on a frozen ImageNet trunk: its visual vector already uses it")
    hp = card.get("hyper_parameters", {})
    products, photos, train = training_products(card, catalogue, images, exclude)
    first: dict[str, int] = {}  # photo -> the first training product showing it
    for i in train:
        first.setdefault(photos[i][0], i)
    keep = list(first)
    labels = card.get("heads", {}).get("brand")
    # brands as train labels them: from every loaded product (validation too), then per kept photo
    brands = (brand_ids(products, labels, int(hp.get("min_brand_products", 10)))[list(first.values())]
              if labels else None)
    tower = ImageTower.load(model_dir, s)  # its fine-tuned trunk, for the second neighbours' keys
    tuned, _ = cached_features(keep, tower.trunk, Path(s.cache) / "features", None, "fine-tuned keys",
                               tower.heads.pooling, tower.heads.histogram)
    params, block = fit(keep, s, cfg, int(hp.get("seed", 0)), brands, [products[i].title for i in first.values()],
                        tuned)
    base = card["id"].rsplit("-v", 1)[0] if card.get("visual") else card["id"]
    card["visual"] = block | {"built_by": "shopsearch.encoders.visual.add_to_model", "excluded": exclude}
    card["visual_alpha"] = block["alpha"]
    card["id"] = model_id(base, block)
    write_part(model_dir, card, "visual_", params)
    log.info("visual space (%s) fitted on %d of %d training photos, written to %s", KIND, block["fit_photos"],
             len(keep), model_dir)
    return card["visual"] | {"id": card["id"]}


def main() -> None:
    """python -m shopsearch.encoders.visual MODEL CATALOGUE --images DIR [--exclude RULE]"""
    from shopsearch.encoders.addon import arguments

    ap = arguments(main.__doc__)
    d = VisualConfig()
    ap.add_argument("--size", type=int, nargs=2, default=[d.width, d.height], metavar=("W", "H"))
    ap.add_argument("--pca", type=int, default=d.pca)
    ap.add_argument("--alpha", type=float, default=d.alpha)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    cfg = VisualConfig(width=a.size[0], height=a.size[1], pca=a.pca, alpha=a.alpha)
    print(json.dumps(add_to_model(a.model, a.catalogue, a.images, a.exclude, cfg), indent=2))


if __name__ == "__main__":
    main()
