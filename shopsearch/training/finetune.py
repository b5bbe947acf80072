"""Fine-tuning the whole trunk on the catalogue, end to end, at the photos' own size.

A frozen ImageNet trunk tells a shirt from a shoe but not a Tshirt from a Top, nor
navy from black: its heads stopped at type 0.83 and colour family 0.69 on unseen
photos however they were trained (docs/experiments/image-tower.md). Training every layer on
the catalogue's (photo, caption, attributes) triples fixes that, and near the
catalogue's 60x80 size (input 84x112) it costs about four minutes an epoch over
35,000 products on two CPU cores. The result is exported as a trunk graph with
the same input (uint8 RGB) and output (global + band pooled features) as the
frozen one, so the rest of the tower (heads, visual vector, serving) is unchanged.

What trains: the trunk, and in front of the same head layout the tower serves
(one hidden layer, the aligned projection, the attribute heads) a copy used only
here; `train.py` then fits the served heads on the fine-tuned trunk's features.
Losses as in `train.py` (InfoNCE with the caption, cosine alignment, head cross
entropy), plus instance discrimination (NT-Xent between two augmented views of
each photo) on a small projection so the pooled features keep what tells one
product from its look-alikes, which photo-to-photo search needs.

torch (the train extra) is imported inside the functions that run it, or passed in:
`FinetuneConfig` and `decode_all` import without it."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, asdict
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from shopsearch.encoders.photo import BANDS, HISTOGRAMS, MEAN, STD, TRUNK_DIM, band_edges, histogram, pixels
from shopsearch.training.export import effnet

log = logging.getLogger(__name__)


@dataclass
class FinetuneConfig:
    epochs: int = 8
    batch: int = 128
    trunk_lr: float = 1e-3
    head_lr: float = 2e-3
    weight_decay: float = 0.02
    # The 60x80 photos' own 3:4 shape, enlarged. 84x112 beat 72x96 at the same training time (median of 3 seeds:
    # type 0.869 -> 0.876, colour family 0.733 -> 0.736, brand 0.502 -> 0.510; docs/experiments/image-tower.md).
    width: int = 84
    height: int = 112
    hidden: int = 1024
    align_weight: float = 0.5
    head_weight: float = 0.3
    instance_weight: float = 0.0  # NT-Xent between two views of each photo (doubles the cost of a step)
    label_smoothing: float = 0.1
    base: str = "lite0"  # which EfficientNet-Lite starts the trunk (training.export.BASES)


def decode_all(paths: list[str], size: tuple[int, int], hist: str, progress: bool = True):
    """Every photo as uint8 (N, H, W, 3) at the fine-tuning size, with its colour histogram."""
    rgb = np.zeros((len(paths), size[1], size[0], 3), np.uint8)
    hists = np.zeros((len(paths), HISTOGRAMS[hist]), np.float32)
    for i, p in enumerate(tqdm(paths, desc="decode photos", unit="img", disable=not progress, mininterval=2)):
        rgb[i] = pixels(p, size)
        hists[i] = histogram(rgb[i], hist)
    return rgb, hists


def build(torch, heads: dict[str, list[str]], hist_dim: int, cfg: FinetuneConfig):
    """The trunk (a pretrained EfficientNet-Lite, `cfg.base`) with pooling as the served graph does it, and the heads."""
    nn, F = torch.nn, torch.nn.functional
    net = effnet(cfg.base)
    net.set_swish(memory_efficient=False)
    with torch.no_grad():
        fh = net.extract_features(torch.zeros(1, 3, cfg.height, cfg.width)).shape[2]
    if fh < BANDS:
        raise ValueError(f"input {cfg.width}x{cfg.height} leaves {fh} rows in the last map: the trunk pools "
                         f"{BANDS} bands, so the height must be at least 96")
    edges = band_edges(fh)

    class Tuned(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = net
            self.register_buffer("scale", torch.from_numpy(1.0 / (255.0 * STD)).reshape(1, 3, 1, 1))
            self.register_buffer("shift", torch.from_numpy(MEAN / STD).reshape(1, 3, 1, 1))
            self.l1 = nn.Linear(TRUNK_DIM * (1 + BANDS) + hist_dim, cfg.hidden)
            self.drop = nn.Dropout(0.1)
            self.l2 = nn.Linear(cfg.hidden, 384)
            self.heads = nn.ModuleDict({f"h_{k}": nn.Linear(cfg.hidden, len(v)) for k, v in heads.items()})
            self.inst = nn.Sequential(nn.Linear(TRUNK_DIM, 512), nn.ReLU(), nn.Linear(512, 128))
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

        def normalise(self, rgb):
            """uint8 (N, H, W, 3) -> the ImageNet-normalised float (N, 3, H, W) the trunk takes."""
            return rgb.permute(0, 3, 1, 2).float() * self.scale - self.shift

        def pooled(self, x):
            """Normalised float (N, 3, H, W) -> global and band averages of the last map."""
            f = self.m.extract_features(x)
            return torch.cat([f.mean((2, 3))] + [f[:, :, edges[i] : edges[i + 1]].mean((2, 3)) for i in range(BANDS)], 1)

        def forward(self, x, hist):
            p = self.pooled(x)
            blocks = [F.normalize(p[:, i : i + TRUNK_DIM], dim=-1) for i in range(0, p.shape[1], TRUNK_DIM)]
            h = F.gelu(self.l1(torch.cat(blocks + [hist], 1)), approximate="tanh")
            z = F.normalize(self.l2(self.drop(h)), dim=-1)
            return z, {k[2:]: m(self.drop(h)) for k, m in self.heads.items()}, p[:, :TRUNK_DIM]

    return Tuned()


def augment_batch(torch, x, gen):
    """Colour-keeping augmentation of a normalised float batch, on the fly: a random
    crop of 75-100% of the photo, a flip, a rotation of up to 10 degrees; the
    border fills with white, as the catalogue's backgrounds are."""
    F = torch.nn.functional
    n = x.shape[0]
    s = torch.empty(n).uniform_(0.75, 1.0, generator=gen)
    a = torch.empty(n).uniform_(-10, 10, generator=gen) * math.pi / 180
    flip = (torch.rand(n, generator=gen) < 0.5).float() * 2 - 1
    tx = (torch.rand(n, generator=gen) * 2 - 1) * (1 - s)
    ty = (torch.rand(n, generator=gen) * 2 - 1) * (1 - s)
    theta = torch.stack([torch.stack([s * torch.cos(a) * flip, -s * torch.sin(a), tx], 1),
                         torch.stack([s * torch.sin(a) * flip, s * torch.cos(a), ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    white = ((1.0 - torch.from_numpy(MEAN)) / torch.from_numpy(STD)).reshape(1, 3, 1, 1)
    return F.grid_sample(x - white, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + white


def finetune(
    rgb: np.ndarray,
    hists: np.ndarray,
    views: list[np.ndarray],
    texts: np.ndarray,
    cap_ids: np.ndarray,
    labels: dict[str, tuple[list[str], np.ndarray]],
    train_idx: np.ndarray,
    cfg: FinetuneConfig,
    seed: int = 0,
    checkpoint: Path | None = None,
    fingerprint: str = "",
    progress: bool = True,
    on_epoch: Callable[[int, object], None] | None = None,
):
    """Train the trunk and heads end to end; returns (model, per-epoch losses).

    `rgb`/`hists`: every decoded photo; `views[i]`: the rows of product i's photos
    (one is drawn per step); `texts`: caption vectors; `labels`: per head, label
    names and per-product index (-1 unknown). A checkpoint is written every epoch
    and resumed when its fingerprint matches."""
    import torch  # the train extra (see the module's docstring)

    F = torch.nn.functional
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build(torch, {k: v[0] for k, v in labels.items()}, hists.shape[1], cfg)
    model = model.to(memory_format=torch.channels_last)
    trunk_params = list(model.m.parameters())
    own = {id(p) for p in trunk_params}
    rest = [p for p in model.parameters() if id(p) not in own]
    opt = torch.optim.AdamW([{"params": trunk_params, "lr": cfg.trunk_lr},
                             {"params": rest, "lr": cfg.head_lr}], weight_decay=cfg.weight_decay)
    steps = max(1, len(train_idx) // cfg.batch)
    total = cfg.epochs * steps
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[cfg.trunk_lr, cfg.head_lr], total_steps=total,
                                                pct_start=0.1 if total >= 20 else 0.5 / total)
    start, losses = 0, []
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        if state.get("fingerprint") == fingerprint and state.get("config") == asdict(cfg):
            model.load_state_dict(state["model"]); opt.load_state_dict(state["opt"]); sched.load_state_dict(state["sched"])
            start, losses = state["epoch"], state["losses"]
            rng = np.random.default_rng([seed, start])
            gen.manual_seed(seed * 1000 + start)
            log.info("fine-tuning resumes at epoch %d", start)
    T = torch.from_numpy(texts)
    H = torch.from_numpy(hists)
    Y = {k: torch.from_numpy(v[1]) for k, v in labels.items()}

    def batch_pixels(rows: np.ndarray):
        x = model.normalise(torch.from_numpy(rgb[rows]))
        return augment_batch(torch, x, gen).contiguous(memory_format=torch.channels_last)

    two = cfg.instance_weight > 0  # a second view of every photo in each batch
    bar = tqdm(total=total, initial=start * steps, desc="fine-tune trunk", unit="step", disable=not progress)
    for epoch in range(start, cfg.epochs):
        model.train()
        order = rng.permutation(train_idx)
        run = 0.0
        for b in range(steps):
            idx = order[b * cfg.batch : (b + 1) * cfg.batch]
            rows = np.array([views[i][rng.integers(len(views[i]))] for i in idx])
            x = batch_pixels(np.concatenate([rows, rows]) if two else rows)
            hb = H[np.concatenate([rows, rows]) if two else rows]
            z, logits, g = model(x, hb)
            n = len(idx)
            t = T[idx]
            zz = z[:n]
            sim = model.logit_scale.exp().clamp(max=100) * zz @ t.T
            same = torch.from_numpy(cap_ids[idx][:, None] == cap_ids[idx][None, :])
            sim = sim.masked_fill(same & ~torch.eye(n, dtype=torch.bool), -1e4)
            tgt = torch.arange(n)
            loss = (F.cross_entropy(sim, tgt) + F.cross_entropy(sim.T, tgt)) / 2
            loss = loss + cfg.align_weight * (1 - (zz * t).sum(-1)).mean()
            for k, lg in logits.items():
                y = Y[k][idx]
                y = torch.cat([y, y]) if two else y
                if (y >= 0).any():
                    loss = loss + cfg.head_weight * F.cross_entropy(lg[y >= 0], y[y >= 0],
                                                                    label_smoothing=cfg.label_smoothing)
            if two:
                e = F.normalize(model.inst(g), dim=-1)
                s2 = e[:n] @ e[n:].T / 0.1
                loss = loss + cfg.instance_weight * (F.cross_entropy(s2, tgt) + F.cross_entropy(s2.T, tgt)) / 2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run += float(loss.detach())
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{run / (b + 1):.3f}")
        losses.append(run / steps)
        if checkpoint is not None:
            tmp = checkpoint.with_suffix(".tmp")
            torch.save({"fingerprint": fingerprint, "config": asdict(cfg), "model": model.state_dict(),
                        "opt": opt.state_dict(), "sched": sched.state_dict(), "epoch": epoch + 1,
                        "losses": losses}, tmp)
            tmp.replace(checkpoint)
        if on_epoch:
            on_epoch(epoch + 1, model)
    bar.close()
    model.eval()
    return model, losses


def predict(model, rgb: np.ndarray, hists: np.ndarray, batch: int = 256):
    """Eval-mode forward over decoded photos: aligned vectors, head logits, global features."""
    import torch  # the train extra (see the module's docstring)

    model.eval()
    zs, lgs, gs = [], {}, []
    with torch.no_grad():
        for s in range(0, len(rgb), batch):
            x = model.normalise(torch.from_numpy(rgb[s : s + batch]))
            z, lg, g = model(x.contiguous(memory_format=torch.channels_last), torch.from_numpy(hists[s : s + batch]))
            zs.append(z.numpy()); gs.append(g.numpy())
            for k, v in lg.items():
                lgs.setdefault(k, []).append(v.numpy())
    return np.concatenate(zs), {k: np.concatenate(v) for k, v in lgs.items()}, np.concatenate(gs)


def export_trunk(model, width: int, height: int, path: Path) -> Path:
    """The fine-tuned trunk as a graph with the frozen export's interface: uint8
    RGB (N, H, W, 3) in, global + band pooled features out."""
    import torch  # the train extra (see the module's docstring)

    class Graph(torch.nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, rgb):
            return self.m.pooled(self.m.normalise(rgb))

    g = Graph(model).eval().to(memory_format=torch.contiguous_format)
    x = torch.zeros(2, height, width, 3, dtype=torch.uint8)
    tmp = path.with_suffix(".tmp.onnx")
    torch.onnx.export(g, x, str(tmp), input_names=["rgb"], output_names=["pooled"],
                      dynamic_axes={"rgb": {0: "b"}, "pooled": {0: "b"}}, opset_version=17, dynamo=False)
    tmp.replace(path)
    return path
