"""Attribute heads on the unseen split (products with id % 5 == 0, never trained on):
how often the image tower's prediction from the photo alone matches the catalogue.
Beside each figure, the majority-class baseline on the same products.

    python bench/heads.py                       # the shipped model
    python bench/heads.py --model path/to/model # a retrained one
    python bench/heads.py --confusions 10       # and the most frequent mistakes
    python bench/heads.py --twins               # and what the nearest training photo's labels say

Brand: with the visual space's neighbours blended in, as ingest stores it, and
without them.

Colour family: the predicted colour and the true one share a family
(COLOUR_FAMILIES: "Navy Blue" counts for blue and navy); "by family" sums the colour
head's probabilities per family and takes the best family. The colour row also says how
often a title's own colour word ("... Navy Blue Shirt") agrees with the label's family,
which bounds how much of the gap is label noise."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA  # noqa: E402

from shopsearch.catalog.brand import label_brands  # noqa: E402
from shopsearch.encoders.image import Heads, ImageTower  # noqa: E402
from shopsearch.query.tables import COLOUR_FAMILIES, colour_families  # noqa: E402
from shopsearch.settings import get_settings  # noqa: E402
from shopsearch.training.data import load_pairs  # noqa: E402
from shopsearch.training.features import cached_features  # noqa: E402


def title_agreement(products, labels: list[str], pred: list[str], known: np.ndarray) -> dict:
    """How noisy the colour labels are, from the titles that name a colour ("... Men Navy Blue Shirt"):
    how often that colour shares a family with the label, and the head's family accuracy on those
    products where they agree. A ceiling set by the labels would show as a low first figure."""
    pat = re.compile(r"\b(" + "|".join(re.escape(c) for c in sorted(labels, key=len, reverse=True)) + r")\b", re.I)
    canon = {c.lower(): c for c in labels}
    agree, hit = [], []
    for p, guess, k in zip(products, pred, known):
        m = pat.search(p.title) if k else None
        if m:
            agree.append(bool(colour_families(canon[m.group(1).lower()]) & colour_families(p.colour)))
            hit.append(bool(colour_families(guess) & colour_families(p.colour)))
    agree_a, hit_a = np.array(agree), np.array(hit)
    return {"title_names_colour": len(agree), "title_label_family_agree": round(float(agree_a.mean()), 4),
            "family_accuracy_where_title_agrees": round(float(hit_a[agree_a].mean()), 4)}


def neighbour_evidence(tower: ImageTower, photos: list[str], desc: str):
    """What the visual space's nearest training photos say of these photos (brand votes and
    borrowed title words), from cached frozen-trunk features, as ingest stores it; None for a
    model without neighbours."""
    space = tower.visual_space
    if space is None or space.neighbours is None:
        return None
    cache = Path(get_settings().cache) / "features"
    g, _ = cached_features(photos, space.trunk, cache, None, desc, "avg", "rgb")
    f, _ = cached_features(photos, tower.trunk, cache, None, desc, tower.heads.pooling, tower.heads.histogram)
    return space.evidence(g, tower.heads.labels, f)


def neighbour_votes(tower: ImageTower, photos: list[str], desc: str) -> dict:
    """The brand neighbours' votes alone, as ingest blends them into the heads; empty without them."""
    ev = neighbour_evidence(tower, photos, desc)
    return ev.votes if ev is not None else {}


def head_table(heads: Heads, products, feats: np.ndarray, hists: np.ndarray, confusions: int = 0,
               votes: dict | None = None) -> dict:
    """Per head: accuracy on these products, majority baseline; colour also by family, brand also top-5;
    with `confusions`, the most frequent (truth -> prediction) mistakes of the type and colour heads;
    `votes`: the visual space's neighbour votes, blended in as serving does (brand)."""
    h = heads.hidden(Heads.inputs(feats, hists))
    out: dict = {}
    brands = label_brands([p.brand for p in products], [p.title for p in products], 1)
    for name, labels in heads.labels.items():
        truth = brands if name == "brand" else [
            getattr(p, name) if name in ("type", "colour", "gender") else p.attrs.get(name, "") for p in products]
        logits = np.log(heads.probabilities(h, name, votes) + 1e-12)  # same order as the served probabilities
        known = np.array([bool(t) and t != "NA" for t in truth])
        pred = [labels[i] for i in logits.argmax(1)]
        ok = np.array([p == t for p, t in zip(pred, truth)])[known]
        major = Counter(t for t, k in zip(truth, known) if k).most_common(1)[0]
        row = {"accuracy": round(float(ok.mean()), 4), "majority_baseline": round(major[1] / known.sum(), 4),
               "known": int(known.sum())}
        if name == "brand":
            top5 = np.argsort(-logits, axis=1)[:, :5]
            row["top5"] = round(float(np.mean([t in {labels[i] for i in r} for t, r, k in zip(truth, top5, known) if k])), 4)
        if name == "colour":
            fam_ok = np.array([bool(colour_families(p) & colour_families(t)) for p, t in zip(pred, truth)])[known]
            prob = np.exp(logits)
            fams = list(COLOUR_FAMILIES)
            member = np.array([[lab in COLOUR_FAMILIES[f] for lab in labels] for f in fams], np.float32)  # F x L
            best = (prob @ member.T).argmax(1)
            by_fam = np.array([fams[b] in colour_families(t) for b, t in zip(best, truth)])[known]
            fam_major = Counter(f for t, k in zip(truth, known) if k for f in colour_families(t)).most_common(1)[0]
            row |= title_agreement(products, labels, pred, known)
            row.update({"family_accuracy": round(float(fam_ok.mean()), 4),
                        "family_accuracy_by_family": round(float(by_fam.mean()), 4),
                        "family_majority_baseline": round(fam_major[1] / known.sum(), 4)})
        if confusions and name in ("type", "colour"):
            wrong = Counter(f"{t} -> {p}" for t, p, k in zip(truth, pred, known) if k and t != p)
            row["top3"] = round(float(np.mean([t in {labels[i] for i in r} for t, r, k in
                                               zip(truth, np.argsort(-logits, axis=1)[:, :3], known) if k])), 4)
            row["confusions"] = dict(wrong.most_common(confusions))
        out[name] = row
    return out


def twins(tower: ImageTower, catalogue: Path, products, photos: list[str], pred: dict) -> list[dict]:
    """How much a photo can tell: each unseen photo's nearest training photo in the visual space
    (ImageNet features + colour histogram), binned by cosine, with how often that twin's type and
    colour family agree with the unseen product's, beside the heads' accuracy on the same products.
    Byte-identical photos with different labels bound what any photo-only predictor can reach."""
    space = tower.visual_space
    if space is None:
        return []
    unseen = {p.id for p in products}
    every, every_photos, _ = load_pairs(catalogue, catalogue.parent, None, None, None)
    keep = [i for i, p in enumerate(every) if p.id not in unseen]  # the products trained on (and validation)
    seen, seen_photos = [every[i] for i in keep], [every_photos[i] for i in keep]
    cache = Path(get_settings().cache) / "features"
    vec = [space.vectors(*cached_features(ph, space.trunk, cache, None, d, "avg", "rgb"))
           for ph, d in ((photos, "unseen photos (visual)"), ([p[0] for p in seen_photos], "training photos (visual)"))]
    best, sim = np.empty(len(products), np.int64), np.empty(len(products))
    for i in range(0, len(products), 256):
        m = vec[0][i : i + 256] @ vec[1].T
        best[i : i + 256], sim[i : i + 256] = m.argmax(1), m.max(1)
    fam = lambda a, b: bool(colour_families(a) & colour_families(b))  # noqa: E731
    out = []
    for lo, hi in ((0.99, 1.01), (0.97, 0.99), (0.95, 0.97), (0.9, 0.95), (0.0, 0.9)):
        m = np.flatnonzero((sim >= lo) & (sim < hi))
        if not len(m):
            continue
        out.append({"cosine": [lo, min(hi, 1.0)], "products": int(len(m)),
                    "twin_type_agrees": round(float(np.mean([products[i].type == seen[best[i]].type for i in m])), 3),
                    "twin_colour_family_agrees": round(float(np.mean([fam(products[i].colour, seen[best[i]].colour)
                                                                      for i in m])), 3),
                    "head_type": round(float(np.mean([products[i].type == pred["type"][i] for i in m])), 3),
                    "head_colour_family": round(float(np.mean([fam(products[i].colour, pred["colour"][i])
                                                               for i in m])), 3)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None, help="model folder (default: the shipped one)")
    ap.add_argument("--catalogue", default=str(DATA / "catalogue.csv"))
    ap.add_argument("--unseen", default="id % 5 != 0", help="rule that drops the products trained on")
    ap.add_argument("--confusions", type=int, default=0, help="list the N most frequent type and colour mistakes")
    ap.add_argument("--twins", action="store_true",
                    help="label agreement with each photo's nearest training photo, by cosine (what a photo can tell)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    s = get_settings()
    tower = ImageTower.load(Path(a.model) if a.model else s.image_model, s)
    products, photos, _ = load_pairs(Path(a.catalogue), Path(a.catalogue).parent, a.unseen, None, None)
    feats, hists = cached_features([p[0] for p in photos], tower.trunk, Path(s.cache) / "features", None,
                                   "unseen photos", tower.heads.pooling,
                                   tower.heads.histogram)
    votes = neighbour_votes(tower, [p[0] for p in photos], "unseen photos")  # what ingest stores
    out = {"products": len(products), "model": tower.id} | head_table(tower.heads, products, feats, hists, a.confusions,
                                                                      votes)
    if votes:
        out["brand"]["without_neighbours"] = head_table(tower.heads, products, feats, hists)["brand"]["accuracy"]
    if a.twins:
        h = tower.heads.hidden(Heads.inputs(feats, hists))
        pred = {n: [tower.heads.labels[n][i] for i in tower.heads.probabilities(h, n).argmax(1)] for n in ("type", "colour")}
        out["twins"] = twins(tower, Path(a.catalogue), products, [p[0] for p in photos], pred)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
