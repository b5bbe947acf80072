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


class Neighbours:
    """The training photos' keys (int8, in the visual PCA space) and their brand label ids."""

    def __init__(self, keys: np.ndarray, labels: np.ndarray, block: dict) -> None:
        self.keys = keys.astype(np.float32) / 127.0
        self.labels = labels.astype(np.int64)
        self.k, self.tau, self.blend = int(block["k"]), float(block["tau"]), float(block["blend"])
        self.skip = float(block["skip_cosine"])
        self.head = str(block["head"])

    def vote(self, keys: np.ndarray, n_labels: int, chunk: int = 64) -> np.ndarray:
        """(N, n_labels) distribution over the head's labels from the k nearest training photos.
        In chunks of rows: a whole catalogue against every key would not fit in memory, and
        chunks of a few MB reuse the allocator's memory. A 500-row chunk (67 MB of
        similarities) took 0.07-0.8 s a call, depending on fresh pages from the kernel;
        64-row chunks take 0.1 ms a photo every time."""
        if len(keys) > chunk:
            return np.concatenate([self.vote(keys[i : i + chunk], n_labels, chunk) for i in range(0, len(keys), chunk)])
        sims = keys @ self.keys.T
        sims[sims >= self.skip] = -1.0
        k = min(self.k, sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        s = np.take_along_axis(sims, top, 1)
        w = np.exp((s - s.max(1, keepdims=True)) / self.tau)
        out = np.zeros((len(keys), n_labels), np.float32)
        lab = self.labels[top]
        rows = np.repeat(np.arange(len(keys)), k)
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
        neighbours = Neighbours(params["visual_nb_keys"], params["visual_nb_labels"], nb) if nb else None
        return cls(trunk, params["visual_mean"], params["visual_pca"], block["alpha"], neighbours)

    def keys(self, feats: np.ndarray) -> np.ndarray:
        """Global trunk features -> the PCA part alone (the neighbours' lookup key)."""
        from shopsearch.encoders.image import TRUNK_DIM

        return l2n((l2n(feats[:, :TRUNK_DIM]) - self.mean) @ self.pca)

    def vectors(self, feats: np.ndarray, hists: np.ndarray) -> np.ndarray:
        """Global trunk features (N x 1280) and RGB histograms (N x 125) -> visual vectors."""
        from shopsearch.encoders.image import HIST_DIM

        return l2n(np.concatenate([self.keys(feats), self.alpha * hists[:, :HIST_DIM]], axis=1))

    def encode(self, images: Sequence[ImageLike], labels: dict[str, list[str]] | None = None
               ) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, float]]]:
        """Visual vectors, and with the heads' `labels` the neighbours' votes: head -> (votes, blend)."""
        feats, hists = self.trunk.features(images, "avg", "rgb")
        return self.vectors(feats, hists), self.votes(feats, labels)

    def votes(self, feats: np.ndarray, labels: dict[str, list[str]] | None) -> dict[str, tuple[np.ndarray, float]]:
        """The neighbours' votes for photos' global trunk features, as the heads blend them:
        head -> (votes, blend); empty without neighbours or without the heads' labels."""
        nb = self.neighbours
        if nb is None or not labels or nb.head not in labels:
            return {}
        return {nb.head: (nb.vote(self.keys(feats), len(labels[nb.head])), nb.blend)}


def fit(photos: Sequence[str], settings: Settings, cfg: VisualConfig | None = None, seed: int = 0,
        brands: Sequence[int] | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Fit the PCA on (up to `fit_photos` of) the training photos: (params, card block).
    `brands`: each photo's label id in the brand head (-1: none), for the brand neighbours."""
    from shopsearch.encoders.features import cached_features
    from shopsearch.encoders.image import TRUNK_DIM, Trunk

    cfg = cfg or VisualConfig()
    photos = list(photos)
    pick = np.arange(len(photos))
    if len(photos) > cfg.fit_photos:
        pick = np.sort(np.random.default_rng(seed).choice(len(photos), cfg.fit_photos, replace=False))
    trunk = Trunk(settings, size=(cfg.width, cfg.height))
    use_nb = brands is not None and cfg.neighbours_k > 0
    feats, _ = cached_features(photos if use_nb else [photos[i] for i in pick], trunk,
                               Path(settings.cache) / "features", None, "visual space", "avg", "rgb")
    x = l2n((feats[pick] if use_nb else feats)[:, :TRUNK_DIM])
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    dim = min(cfg.pca, vt.shape[0])
    params = {"visual_mean": mean.astype(np.float32), "visual_pca": vt[:dim].T.astype(np.float32)}
    block = {"trunk": KIND, "input_size": [cfg.width, cfg.height], "pca": dim, "alpha": cfg.alpha,
             "fit_photos": len(pick)}
    if use_nb:
        keys = l2n((l2n(feats[:, :TRUNK_DIM]) - mean) @ params["visual_pca"])
        params["visual_nb_keys"] = np.round(keys * 127).astype(np.int8)
        params["visual_nb_labels"] = np.asarray(brands, np.int16)
        block["neighbours"] = {"head": "brand", "k": cfg.neighbours_k, "tau": cfg.neighbours_tau,
                               "blend": cfg.neighbours_blend, "skip_cosine": cfg.skip_cosine, "photos": len(photos)}
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
    brands = (brand_ids([products[i] for i in first.values()], labels, int(hp.get("min_brand_products", 10)))
              if labels else None)
    params, block = fit(keep, s, cfg, int(hp.get("seed", 0)), brands)
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
