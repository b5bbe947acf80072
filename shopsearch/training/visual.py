"""Fitting the visual space (`shopsearch.encoders.visual`, which says why a fine-tuned
model has it) on a catalogue's training photos: the frozen ImageNet trunk's global
features PCA'd, the RGB histogram's weight, and the neighbours (the training
photos' keys, brands and title words, and their keys in the fine-tuned space).

    python -m shopsearch.training.visual MODEL CATALOGUE --images DIR --exclude "id % 5 == 0"

adds the visual space to a model trained before it existed, as `train` does."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from shopsearch.catalog.brand import label_brands
from shopsearch.encoders.image import ImageTower
from shopsearch.encoders.pca import fit as fit_pca, project
from shopsearch.encoders.trunk import Trunk
from shopsearch.encoders.visual import TunedKeys, Words
from shopsearch.settings import Settings, get_settings
from shopsearch.training.data import training_products
from shopsearch.training.features import cached_features
from shopsearch.training.model_folder import arguments, write_part

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




def fit(photos: Sequence[str], settings: Settings, cfg: VisualConfig | None = None, seed: int = 0,
        brands: Sequence[int] | None = None, titles: Sequence[str] | None = None,
        tuned_feats: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Fit the PCA on (up to `fit_photos` of) the training photos: (params, card block).
    `brands`: each photo's label id in the brand head (-1: none), for the brand neighbours;
    `titles`: each photo's product title, for the borrowed words; `tuned_feats`: each
    photo's features from the model's fine-tuned trunk, for the second neighbours."""
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
    mean, pca = fit_pca(feats[pick] if use_nb else feats, cfg.pca)
    params = {"visual_mean": mean, "visual_pca": pca}
    block = {"trunk": KIND, "input_size": [cfg.width, cfg.height], "pca": int(pca.shape[1]), "alpha": cfg.alpha,
             "fit_photos": len(pick)}
    if use_nb:
        keys = project(feats, mean, pca)
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
    card["visual"] = block | {"built_by": "shopsearch.training.visual.add_to_model", "excluded": exclude}
    card["visual_alpha"] = block["alpha"]
    card["id"] = model_id(base, block)
    write_part(model_dir, card, "visual_", params)
    log.info("visual space (%s) fitted on %d of %d training photos, written to %s", KIND, block["fit_photos"],
             len(keep), model_dir)
    return card["visual"] | {"id": card["id"]}


def main() -> None:
    """python -m shopsearch.training.visual MODEL CATALOGUE --images DIR [--exclude RULE]"""
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
