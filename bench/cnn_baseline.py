"""The other image-tower option: a small CNN trained from scratch on the catalogue
(the trial in shared/notes/image-tower.md), measured on the same footing as the
shipped tower (frozen EfficientNet-Lite0 + trained MLP) so the two can be compared.

- Model: four conv blocks (two 3x3 conv + BN + ReLU, then 2x2 max-pool; 32/64/128/256
  channels), global average pool, linear to 384, L2-normalised. Input 64x80 (W x H)
  RGB, normalised by the training photos' per-channel mean and std.
- Training pairs: `catalogue.csv` rows with id % 5 != 0 (never the unseen split),
  photo `image_60x80`, caption "{gender} {baseColour} {articleType}. {productDisplayName}"
  embedded by the frozen MiniLM text tower (`MiniLMText`).
- Loss: symmetric InfoNCE with a learned temperature + 0.5 * (1 - cos) to the paired
  caption. AdamW, one-cycle LR (peak 2e-3), weight decay 0.05, batch 128, random
  horizontal flips and shifts of up to 4 px.
- Budget: fixed wall-clock (--minutes); the one-cycle schedule is sized from the speed
  of the first 20 steps; training stops at the end of the schedule or the budget.
- Eval: `dev-x*` queries (text against photos only) over the unseen products of
  `catalogue_hr.csv` (id % 5 == 0, 2,383 products), `image_hr` resized to 64x80;
  nDCG@10 with the project's metrics. Also encode speed (batch 64, eval mode,
  preprocessed tensors in, vectors out), parameters, pairs, seconds.

Caches (photo arrays, caption and query vectors) and the JSON result go to
var/bench/cnn/.

    python bench/cnn_baseline.py --minutes 15 --seed 0"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, DATA, ROOT  # noqa: E402

from shopsearch.eval.metrics import load_qrels, ndcg  # noqa: E402

W, H = 64, 80  # input width x height
DIM = 384
OUT = ROOT / "var" / "bench" / "cnn"


# ---------------------------------------------------------------- data


def caption(r: dict) -> str:
    return f"{r['gender']} {r['baseColour']} {r['articleType']}. {r['productDisplayName']}"


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def key(items: list[str]) -> str:
    return hashlib.sha1("\n".join(items).encode()).hexdigest()[:12]


def load_photos(paths: list[Path], name: str) -> np.ndarray:
    """uint8 (N, H, W, 3), decoded once and cached as .npy."""
    cache = OUT / f"{name}-{key([str(p) for p in paths])}-{W}x{H}.npy"
    if cache.exists():
        return np.load(cache)
    arr = np.zeros((len(paths), H, W, 3), dtype=np.uint8)
    for i, p in enumerate(tqdm(paths, desc=f"decode {name}", mininterval=5)):
        with Image.open(p) as im:
            arr[i] = np.asarray(im.convert("RGB").resize((W, H), Image.BILINEAR))
    np.save(cache, arr)
    return arr


def text_vectors(texts: list[str], name: str) -> np.ndarray:
    cache = OUT / f"{name}-{key(texts)}-minilm.npy"
    if cache.exists():
        return np.load(cache)
    from shopsearch.encoders.text import MiniLMText
    from shopsearch.settings import Settings

    enc = MiniLMText(Settings())
    chunks = [texts[s : s + 1024] for s in range(0, len(texts), 1024)]
    vec = np.concatenate([enc.encode(c) for c in tqdm(chunks, desc=f"embed {name}", mininterval=5)])
    np.save(cache, vec.astype(np.float32))
    return vec.astype(np.float32)


# ---------------------------------------------------------------- model


def block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class SmallCNN(nn.Module):
    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.features = nn.Sequential(block(3, 32), block(32, 64), block(64, 128), block(128, 256))
        self.proj = nn.Linear(256, DIM)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float (B, 3, H, W) in [0, 255]."""
        x = (x - self.mean) / self.std
        x = self.features(x).mean(dim=(2, 3))
        return F.normalize(self.proj(x), dim=-1)


def to_tensor(u8: np.ndarray) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in channels_last memory (3-4x faster convs on CPU)."""
    return torch.from_numpy(u8).permute(0, 3, 1, 2).float().contiguous(memory_format=torch.channels_last)


def augment(x: torch.Tensor, g: torch.Generator, shift: int = 4) -> torch.Tensor:
    """Random horizontal flip and a shift of up to `shift` px (edge-replicated)."""
    b = x.shape[0]
    flip = torch.rand(b, generator=g) < 0.5
    x = torch.where(flip.view(b, 1, 1, 1), x.flip(3), x)
    padded = F.pad(x, (shift, shift, shift, shift), mode="replicate")
    dx = torch.randint(0, 2 * shift + 1, (b,), generator=g).tolist()
    dy = torch.randint(0, 2 * shift + 1, (b,), generator=g).tolist()
    out = torch.stack([padded[i, :, dy[i] : dy[i] + H, dx[i] : dx[i] + W] for i in range(b)])
    return out.contiguous(memory_format=torch.channels_last)


def onecycle(step: int, total: int, peak: float, pct: float = 0.3, div: float = 25.0, final_div: float = 1e4) -> float:
    """torch's OneCycleLR (cosine) as a function of the step."""
    lo, end = peak / div, peak / div / final_div
    up = max(1, int(pct * total))
    if step < up:
        return lo + (peak - lo) * (1 - math.cos(math.pi * step / up)) / 2
    t = min(1.0, (step - up) / max(1, total - up))
    return end + (peak - end) * (1 + math.cos(math.pi * t)) / 2


@torch.no_grad()
def encode(model: nn.Module, u8: np.ndarray, batch: int = 64) -> np.ndarray:
    model.eval()
    return torch.cat([model(to_tensor(u8[s : s + batch])) for s in range(0, len(u8), batch)]).numpy()


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=15.0, help="training wall-clock budget")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    OUT.mkdir(parents=True, exist_ok=True)

    # Data: training pairs never include the unseen split (id % 5 == 0).
    t0 = time.perf_counter()
    train = [r for r in read_rows(DATA / "catalogue.csv") if int(r["id"]) % 5 != 0]
    cand = [r for r in read_rows(DATA / "catalogue_hr.csv") if int(r["id"]) % 5 == 0]
    assert all(int(r["id"]) % 5 == 0 for r in cand) and not any(int(r["id"]) % 5 == 0 for r in train)
    train_u8 = load_photos([DATA / r["image_60x80"] for r in train], "train")
    train_txt = torch.from_numpy(text_vectors([caption(r) for r in train], "captions"))
    cand_u8 = load_photos([DATA / r["image_hr"] for r in cand], "unseen-hr")
    cand_ids = [r["id"] for r in cand]
    with (BENCH / "fashion" / "dev-queries.jsonl").open(encoding="utf-8") as f:
        queries = [q for q in map(json.loads, f) if q["qid"].startswith("dev-x")]
    qvec = text_vectors([q["text"] for q in queries], "dev-x")
    prep_s = time.perf_counter() - t0
    print(f"data: {len(train)} training pairs, {len(cand)} candidates, {len(queries)} dev-x queries "
          f"({prep_s:.0f} s to load/cache)", flush=True)

    # Dataset mean/std per channel, from the training photos.
    flat = train_u8.reshape(-1, 3).astype(np.float64)
    mean, std = flat.mean(0), flat.std(0)
    del flat

    model = SmallCNN(mean, std).to(memory_format=torch.channels_last)
    n_params = sum(p.numel() for p in model.parameters())
    logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.wd}, {"params": no_decay + [logit_scale], "weight_decay": 0.0}],
        lr=args.lr / 25.0,
    )

    budget = args.minutes * 60.0
    g = torch.Generator().manual_seed(args.seed)
    n = len(train)
    steps_per_epoch = n // args.batch
    total = None  # one-cycle length, set after 20 steps
    step, epoch, losses = 0, 0, []
    model.train()
    pbar = tqdm(desc="train", unit="step", mininterval=10, file=sys.stderr)
    t_train = time.perf_counter()
    t_after_first = None
    stop_reason = "budget"
    while True:
        perm = torch.randperm(n, generator=g)
        for b in range(steps_per_epoch):
            elapsed = time.perf_counter() - t_train
            if total is not None and step >= total:
                stop_reason = "schedule"
                break
            if elapsed >= budget:
                break
            lr = args.lr / 25.0 if total is None else onecycle(step, total, args.lr)
            for pg in opt.param_groups:
                pg["lr"] = lr
            idx = perm[b * args.batch : (b + 1) * args.batch]
            x = augment(to_tensor(train_u8[idx.numpy()]), g)
            t = train_txt[idx]
            v = model(x)
            scale = logit_scale.exp().clamp(max=100.0)
            logits = scale * v @ t.T
            target = torch.arange(len(idx))
            nce = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            align = (1 - (v * t).sum(-1)).mean()
            loss = nce + 0.5 * align
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            losses.append(loss.item())
            pbar.update(1)
            if step == 1:
                t_after_first = time.perf_counter()
            if step == 20:
                # Speed of steps 2..20 (the first carries allocation overhead); 5% margin so
                # the schedule can finish inside the budget on shared cores.
                per_step = (time.perf_counter() - t_after_first) / 19
                left = budget - (time.perf_counter() - t_train)
                total = 20 + int(0.95 * left / per_step)
                pbar.total = total
                pbar.refresh()
                tqdm.write(f"first 20 steps: {per_step:.2f} s/step -> one-cycle sized to {total} steps "
                           f"({total * args.batch / n:.2f} epochs)")
            if step % 10 == 0:
                pbar.set_postfix(ep=epoch, loss=f"{np.mean(losses[-10:]):.3f}", lr=f"{lr:.1e}",
                                 T=f"{1 / scale.item():.3f}", refresh=False)
        else:
            epoch += 1
            continue
        break
    pbar.close()
    train_s = time.perf_counter() - t_train
    epochs_done = step * args.batch / n

    # Eval: dev-x text queries against the unseen products' photos only.
    t = time.perf_counter()
    img = encode(model, cand_u8)
    qrels = load_qrels(BENCH / "fashion" / "dev-qrels.tsv")
    scores = qvec @ img.T
    per_q = []
    for qi, q in enumerate(queries):
        if q["qid"] not in qrels.gains:
            continue
        top = np.argsort(-scores[qi], kind="stable")[:10]
        per_q.append(ndcg([cand_ids[i] for i in top], qrels.gains[q["qid"]], 10))
    score = float(np.mean(per_q))
    eval_s = time.perf_counter() - t

    # Encode speed: batch 64, eval mode, preprocessed uint8 photos -> normalised vectors
    # (JPEG decode and resize not included).
    model.eval()
    n_speed = min(1024, len(cand_u8))
    encode(model, cand_u8[:64])  # warm-up
    rates = []
    for _ in range(3):  # median of 3: the cores are shared
        t = time.perf_counter()
        encode(model, cand_u8[:n_speed])
        rates.append(n_speed / (time.perf_counter() - t))
    photos_per_s = float(np.median(rates))

    torch.save({"model": model.state_dict(), "logit_scale": logit_scale.detach()}, OUT / f"cnn-seed{args.seed}.pt")
    result = {
        "model": "small CNN from scratch (4 conv blocks 32/64/128/256, GAP, linear 384)",
        "input": f"{W}x{H}",
        "params": n_params,
        "train_pairs": n,
        "train_seconds": round(train_s, 1),
        "budget_minutes": args.minutes,
        "steps": step,
        "steps_planned": total,
        "stopped_by": stop_reason,
        "epochs": round(epochs_done, 2),
        "final_loss": round(float(np.mean(losses[-50:])), 4) if losses else None,
        "temperature": round(1 / logit_scale.exp().clamp(max=100.0).item(), 4),
        "dev_x_queries": len(per_q),
        "candidates": len(cand),
        "dev_x_ndcg@10": round(score, 4),
        "encode_photos_per_s": round(photos_per_s, 1),
        "encode_batch": 64,
        "threads": args.threads,
        "seed": args.seed,
        "eval_seconds": round(eval_s, 1),
        "prep_seconds": round(prep_s, 1),
    }
    print(f"cnn_baseline: dev-x nDCG@10 {score:.3f} over {len(per_q)} queries / {len(cand)} unseen photos | "
          f"{n_params / 1e6:.2f}M params | {n} pairs, {step} steps ({epochs_done:.2f} epochs) in {train_s:.0f} s | "
          f"encode {photos_per_s:.0f} photos/s (batch 64, {args.threads} threads)")
    print(json.dumps(result, indent=2))
    (OUT / f"result-seed{args.seed}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
