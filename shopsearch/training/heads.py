"""The served heads' training parts: their labels from the catalogue, the torch model
(one hidden layer, the aligned projection into the text space, the attribute heads),
the self-supervised warm-up, hard-negative batches and the validation metrics.
torch is passed in by `train.train`, which imports it: the rest imports without it."""

from __future__ import annotations

import math

import numpy as np
from tqdm import tqdm

from shopsearch.catalog.brand import label_brands

HEAD_FIELDS = ("type", "colour", "gender", "usage", "season", "brand")


def head_labels(products, raw, cfg) -> dict[str, tuple[list[str], np.ndarray]]:
    """For each attribute the catalogue has: label names and per-product label index (-1 unknown);
    `cfg` a TrainConfig (its label limits)."""
    out = {}
    for name in HEAD_FIELDS:
        if name == "brand":  # the brand column, else the title's "<Brand> <Gender> ..." prefix
            vals = label_brands([p.brand for p in products], [p.title for p in products], cfg.min_brand_products)
            least, most = cfg.min_brand_products, cfg.max_brand_labels
        else:
            vals = [(getattr(p, name, "") if name in ("type", "colour", "gender") else p.attrs.get(name, "")) or ""
                    for p in products]
            least, most = 3, cfg.max_head_labels
        counts: dict[str, int] = {}
        for v in vals:
            if v and v != "NA":
                counts[v] = counts.get(v, 0) + 1
        labels = sorted([k for k, c in counts.items() if c >= least], key=lambda k: -counts[k])[:most]
        if len(labels) < 2:
            continue
        pos = {k: i for i, k in enumerate(labels)}
        out[name] = (labels, np.array([pos.get(v, -1) for v in vals], np.int64))
    return out


def hard_negative_order(rng, idx: np.ndarray, products, batch: int) -> np.ndarray:
    """An epoch order where each product is followed by one of the same type in
    another colour, so the contrastive loss must tell colours apart."""
    by_type: dict[str, dict[str, list[int]]] = {}
    for i in idx:
        p = products[i]
        by_type.setdefault(p.type, {}).setdefault(p.colour, []).append(int(i))
    out: list[int] = []
    for i in rng.permutation(idx)[: len(idx) // 2]:
        p = products[i]
        others = [c for c in by_type.get(p.type, {}) if c != p.colour]
        out.append(int(i))
        if others:
            pool = by_type[p.type][others[rng.integers(len(others))]]
            out.append(pool[rng.integers(len(pool))])
        else:
            out.append(int(rng.choice(idx)))
    # keep pairs together within batches
    pairs = np.array(out[: len(out) // 2 * 2]).reshape(-1, 2)
    return pairs[rng.permutation(len(pairs))].reshape(-1)[: len(idx)]


def ssl_pretrain(torch, model, X: np.ndarray, M: np.ndarray, idx: np.ndarray, cfg, rng,
                 progress: bool = True) -> list[float]:
    """Instance discrimination (SimCLR's NT-Xent) between two views of each training
    photo: no captions or labels, so it warms up the shared hidden layer on photos
    alone before the contrastive stage."""
    nn, F = torch.nn, torch.nn.functional
    proj = nn.Linear(cfg.hidden, 256)
    opt = torch.optim.AdamW(list(model.l1.parameters()) + list(proj.parameters()), lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    Xt = torch.from_numpy(X)
    avail = [np.where(M[:, i])[0] for i in range(M.shape[1])]
    losses = []
    for _ in tqdm(range(cfg.ssl_epochs), desc="pretrain (self-supervised)", unit="epoch", disable=not progress):
        order, total, steps = rng.permutation(idx), 0.0, 0
        for b in range(0, len(order), cfg.batch):
            ib = order[b : b + cfg.batch]
            if len(ib) < 2:
                continue
            v = np.array([rng.choice(avail[i], 2, replace=len(avail[i]) < 2) for i in ib])
            z1, z2 = (F.normalize(proj(F.gelu(model.l1(Xt[v[:, k], ib]), approximate="tanh")), dim=-1) for k in (0, 1))
            sim, tgt = z1 @ z2.T / 0.1, torch.arange(len(ib))
            loss = (F.cross_entropy(sim, tgt) + F.cross_entropy(sim.T, tgt)) / 2
            opt.zero_grad(); loss.backward(); opt.step()
            total, steps = total + float(loss.detach()), steps + 1
        losses.append(total / max(steps, 1))
    return losses


def heads_model(torch, in_dim: int, cfg, heads: dict):
    """The heads in torch: `in_dim` inputs (the trunk's features and histogram), `cfg` a TrainConfig."""
    nn = torch.nn

    class Tower(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1 = nn.Linear(in_dim, cfg.hidden)
            self.drop = nn.Dropout(cfg.dropout)
            self.l2 = nn.Linear(cfg.hidden, 384)
            self.heads = nn.ModuleDict({f"h_{k}": nn.Linear(cfg.hidden, len(v[0])) for k, v in heads.items()})
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

        def forward(self, x):
            h = torch.nn.functional.gelu(self.l1(x), approximate="tanh")
            z = torch.nn.functional.normalize(self.l2(self.drop(h)), dim=-1)
            return z, {k[2:]: m(self.drop(h)) for k, m in self.heads.items()}

    return Tower()


def evaluate(aligned: np.ndarray, texts: np.ndarray, captions: list[str], attrs_pred, attrs_true) -> dict:
    """Validation: caption->photo Recall@1/10 (any product with the same caption counts) and head accuracy."""
    sims = texts @ aligned.T
    r1 = r10 = 0
    for i in range(len(texts)):
        top = np.argsort(-sims[i])[:10]
        ok = [captions[j] == captions[i] for j in top]
        r1 += ok[0]
        r10 += any(ok)
    m = {"val_products": len(texts), "t2i_r1": r1 / max(len(texts), 1), "t2i_r10": r10 / max(len(texts), 1)}
    for name, pred in attrs_pred.items():
        known = attrs_true[name] >= 0
        if known.any():
            m[f"acc_{name}"] = float((pred[known] == attrs_true[name][known]).mean())
    return m
