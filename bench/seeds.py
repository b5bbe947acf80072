"""Training variants over several seeds, reported as medians: validation t2i
R@10, the attribute heads on the unseen split, and KAGL text->photo (the 319
queries whose targets are all unseen, photos only over all 44,072 products).

    python bench/seeds.py                                   # base config, seeds 0 1 2
    python bench/seeds.py --variant hard_negatives --variant caption_mix --seeds 0
    python bench/seeds.py --model shopsearch/models/fashion # score existing model folders only

Each run trains exactly as `shopsearch train ... --exclude "id % 5 == 0"` does
(the unseen split is never trained on) and writes var/seeds/<variant>-s<seed>.
An existing folder whose card has the same config is reused, not retrained.

KAGL here skips building a 44k-product index per model. It reads the cached trunk
features of every product's first photo. It scores the way the engine scores a
photo-only query (`fields: ["image"]`, settings `photo_*`): the top 1,000 by the
aligned vector, each scored by its cosine plus T x (`photo_attribute_boost` x the
sum of log(1 + p / floor) over the type, colour, gender and brand the query names,
p the probability that the photo shows them, + `photo_words` x the query's words
among those the photo borrowed from its nearest training photos' titles). The
engine's own path (`bench/kagl.py` on a built index) keeps each photo's top
predicted labels only, so the two differ by a query or two."""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, ROOT  # noqa: E402
from heads import head_table, neighbour_evidence  # noqa: E402
from kagl import unseen_queries  # noqa: E402

from shopsearch.catalog.brand import BrandMatcher  # noqa: E402
from shopsearch.encoders.image import Heads, ImageTower  # noqa: E402
from shopsearch.encoders.trunk import Trunk  # noqa: E402
from shopsearch.index.lexical import tokenize  # noqa: E402
from shopsearch.query.parser import parse  # noqa: E402
from shopsearch.query.vocab import Vocabulary  # noqa: E402
from shopsearch.ranking.fusion import borrowed_words, photo_evidence  # noqa: E402
from shopsearch.settings import get_settings  # noqa: E402
from shopsearch.training.data import load_pairs  # noqa: E402
from shopsearch.training.features import cached_features  # noqa: E402
from shopsearch.training.train import TrainConfig, train  # noqa: E402

UNSEEN = "id % 5 == 0"
VARIANTS = {"base": {}, "hard_negatives": {"hard_negatives": True}, "caption_mix": {"caption_mix": True},
            "ssl": {"ssl_epochs": 10}, "frozen": {"finetune_epochs": 0},
            "fp32_trunk": {"finetune_epochs": 0, "int8_trunk": False},
            "rgb_histogram": {"histogram": "rgb"}, "instance": {"finetune_instance": 0.3},
            "size84": {"finetune_width": 84, "finetune_height": 112},
            "size96": {"finetune_width": 96, "finetune_height": 128},
            "lite1": {"finetune_base": "lite1"}, "lite2": {"finetune_base": "lite2"}}


class Kagl:
    """The KAGL queries, parsed once, against every product's cached photo features."""

    def __init__(self) -> None:
        s = get_settings()
        products, photos, _ = load_pairs(DATA / "catalogue.csv", DATA, None, None, None)
        self.products = products
        self.photos = [p[0] for p in photos]
        self.ids = np.array([p.id for p in products])
        self.trunk: Trunk | None = None
        self.hist = "rgb"
        unseen = unseen_queries()
        self.texts = [q for q, _ in unseen]
        self.targets = [t for _, t in unseen]
        from shopsearch.encoders.text import MiniLMText

        self.qvecs = MiniLMText(s).encode(self.texts)
        vocab = Vocabulary.build([p.type for p in products], [p.colour for p in products], [p.gender for p in products],
                                 [p.attrs.get("usage", "") for p in products], [p.title for p in products])
        self.intents = [parse(t, vocab) for t in self.texts]
        self.settings = s

    def use(self, trunk: Trunk, pooling: str, hist: str = "rgb") -> None:
        """Every product's first photo through this model's trunk (cached per trunk and histogram)."""
        if self.trunk is None or (self.trunk.key, self.hist) != (trunk.key, hist):
            self.feats, self.hists = cached_features(self.photos, trunk, Path(self.settings.cache) / "features",
                                                     None, "all photos", pooling, hist)
            self.trunk, self.hist = trunk, hist

    def score(self, heads: Heads, brand_words: list[str], k: int = 1000, votes: dict | None = None,
              words: list[dict[str, float]] | None = None) -> dict[str, float]:
        """`votes`, `words`: the visual space's brand neighbours and borrowed title words for
        every photo, as ingest stores them."""
        s = self.settings
        h = heads.hidden(Heads.inputs(self.feats, self.hists))
        sims = self.qvecs @ heads.aligned(h, self.feats).T
        probs = {name: (labels, heads.probabilities(h, name, votes)) for name, labels in heads.labels.items()}
        matcher = BrandMatcher(brand_words) if "brand" in probs else None
        r1 = r10 = rr = 0.0
        for qi, it in enumerate(self.intents):
            top = np.argpartition(-sims[qi], k)[:k]
            score = sims[qi][top].astype(np.float64)
            named = [(n, set(v)) for n, v in (("type", it.types), ("colour", it.colours), ("gender", it.genders)) if v]
            if matcher is not None and (b := matcher.find(self.texts[qi])):
                named.append(("brand", set(b)))
            for n, wanted in named:
                if n in probs:
                    labels, pr = probs[n]
                    cols = [i for i, lab in enumerate(labels) if lab in wanted]
                    score += s.photo_attribute_boost * photo_evidence(pr[top][:, cols].sum(1), s)
            if words and s.photo_words > 0:
                score += borrowed_words(set(tokenize(self.texts[qi])), (words[i] for i in top), s)
            ranked = self.ids[top[np.argsort(-score, kind="stable")]]
            rank = next((i for i, p in enumerate(ranked) if p in self.targets[qi]), None)
            if rank is not None:
                r1 += rank == 0
                r10 += rank < 10
                rr += 1 / (rank + 1)
        n = len(self.intents)
        return {"kagl_r1": r1 / n, "kagl_r10": r10 / n, "kagl_mrr": rr / n}


def measure(model: Path, kagl: Kagl) -> dict[str, float]:
    tower = ImageTower.load(model, kagl.settings, trunk=kagl.trunk)
    card = tower.heads.card
    kagl.use(tower.trunk, tower.heads.pooling, tower.heads.histogram)
    unseen = np.array([int(p.id) % 5 == 0 for p in kagl.products])  # the rule UNSEEN states
    ev = neighbour_evidence(tower, kagl.photos, "all photos (visual)")  # as ingest stores it
    votes, words = (ev.votes, ev.words) if ev is not None else ({}, [])
    heads = head_table(tower.heads, [p for p, u in zip(kagl.products, unseen) if u], kagl.feats[unseen],
                       kagl.hists[unseen], votes={k: (v[unseen], b) for k, (v, b) in votes.items()} if votes else None)
    out = {"val_t2i_r10": card.get("validation_metrics", {}).get("t2i_r10", float("nan")),
           "type": heads["type"]["accuracy"], "colour_family": heads["colour"]["family_accuracy"],
           "gender": heads["gender"]["accuracy"]}
    if "brand" in heads:
        out["brand"] = heads["brand"]["accuracy"]
    out |= kagl.score(tower.heads, tower.brand_words(), votes=votes, words=words)
    out["train_seconds"] = card.get("train_seconds", float("nan"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", action="append", choices=list(VARIANTS), help="repeatable (default: base)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--model", action="append", type=Path, help="score these model folders instead of training")
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "seeds")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # cards before the HSV histogram existed were RGB-only; before the input size was a field, 72x96
    defaults = asdict(TrainConfig()) | {"histogram": "rgb", "finetune_width": 72, "finetune_height": 96}
    kagl = Kagl()
    runs: dict[str, list[dict]] = defaultdict(list)
    if a.model:
        for m in a.model:
            runs[str(m)].append(measure(m, kagl))
    for variant in a.variant or ([] if a.model else ["base"]):
        for seed in a.seeds:
            cfg = TrainConfig(seed=seed, **VARIANTS[variant])
            out = a.out / f"{variant}-s{seed}"
            card = out / "card.json"
            hp = json.loads(card.read_text()).get("hyper_parameters", {}) if card.exists() else None
            # a card written before a config field existed ran with that field's default
            if hp is None or any(hp.get(k, defaults[k]) != v for k, v in asdict(cfg).items() if v is not None):
                train(DATA / "catalogue.csv", DATA, out, exclude=UNSEEN, cfg=cfg, force=True)
            runs[variant].append(measure(out, kagl) | {"seed": seed})
            print(json.dumps({"variant": variant, **runs[variant][-1]}), flush=True)
    print(f"\nmedians ({', '.join(f'{k}: {len(v)} runs' for k, v in runs.items())}):")
    keys = [k for k in next(iter(runs.values()))[0] if k != "seed"]
    print("  " + "variant".ljust(28) + "".join(k.rjust(15) for k in keys))
    for name, rs in runs.items():
        print("  " + name[-28:].ljust(28) + "".join(f"{statistics.median(r[k] for r in rs):15.3f}" for k in keys))


if __name__ == "__main__":
    main()
