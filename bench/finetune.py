"""Does fine-tuning the trunk's last block pay? A probe on a subset: type and colour
(family) accuracy on unseen products, from heads on the frozen trunk against heads on
a trunk whose last MBConv block, head convolution and its batch norm are trained too
(the earlier blocks stay frozen and their output is computed once).

    python bench/finetune.py                         # 8,000 training products, 2,000 unseen
    python bench/finetune.py --warm-start --epochs 4 # fine-tune from the frozen heads

Measured here (8,000 / 2,000, seed 0): frozen heads type 0.796, colour family 0.650
(0.793 / 0.650 after 12 epochs); fine-tuned with fresh heads, 6 epochs, best
0.786 / 0.616; warm-started from the frozen heads, 4 epochs, best 0.800 / 0.650. No gain worth a model-specific trunk,
so the shipped tower kept the trunk frozen then. Fine-tuning every layer instead
(`shopsearch/training/finetune.py`, the training default since) did pay: type 0.870
and colour family 0.732 on all 8,835 unseen products (docs/experiments/image-tower.md)."""

from __future__ import annotations

import argparse
import copy
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA  # noqa: E402

from shopsearch.encoders.base import l2n  # noqa: E402
from shopsearch.encoders.photo import BANDS, TRUNK_DIM, normalise, pool  # noqa: E402
from shopsearch.encoders.trunk import Trunk  # noqa: E402
from shopsearch.query.tables import colour_families  # noqa: E402
from shopsearch.settings import get_settings  # noqa: E402
from shopsearch.training.data import load_pairs  # noqa: E402


def main() -> None:
    import torch

    from shopsearch.training.export import effnet

    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=8000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=6, help="fine-tuning epochs (the frozen heads get 3x)")
    ap.add_argument("--tail-lr", type=float, default=1e-4)
    ap.add_argument("--warm-start", action="store_true", help="start from the frozen heads (heads lr 2e-4)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    F = torch.nn.functional
    tr = load_pairs(DATA / "catalogue.csv", DATA, "id % 5 == 0", None, a.train)
    te = load_pairs(DATA / "catalogue.csv", DATA, "id % 5 != 0", None, a.test)
    net = effnet()
    trunk = Trunk(get_settings())
    last = len(net._blocks) - 1

    def extract(photos):
        """Frozen blocks' output (the fine-tuned part's input), frozen pooled features, colour histograms."""
        maps, feats, hists = [], [], []
        for i in range(0, len(photos), 64):
            prep = [trunk._prep(p[0]) for p in photos[i : i + 64]]
            with torch.no_grad():
                y = net._swish(net._bn0(net._conv_stem(torch.from_numpy(np.stack([normalise(c[0]) for c in prep])))))
                for b in net._blocks[:last]:
                    y = b(y)
                maps.append(y.half().numpy())
                z = net._swish(net._bn1(net._conv_head(net._blocks[last](y))))
                feats.append(pool(z.numpy(), "bands"))
            hists.append(np.stack([c[1] for c in prep]))
        return np.concatenate(maps), np.concatenate(feats), np.concatenate(hists)

    (m_tr, f_tr, h_tr), (m_te, f_te, h_te) = extract(tr[1]), extract(te[1])
    types = sorted({p.type for p in tr[0]})
    cols = sorted({p.colour for p in tr[0]})
    y_t = torch.tensor([types.index(p.type) for p in tr[0]])
    y_c = torch.tensor([cols.index(p.colour) for p in tr[0]])

    def accuracy(lt, lc) -> tuple[float, float]:
        t = np.mean([types[i] == p.type for i, p in zip(lt.argmax(1), te[0])])
        c = np.mean([bool(colour_families(cols[i]) & colour_families(p.colour)) for i, p in zip(lc.argmax(1), te[0])])
        return round(float(t), 3), round(float(c), 3)

    class Heads(torch.nn.Module):
        def __init__(self, d: int) -> None:
            super().__init__()
            self.l1, self.drop = torch.nn.Linear(d, 1024), torch.nn.Dropout(0.1)
            self.t, self.c = torch.nn.Linear(1024, len(types)), torch.nn.Linear(1024, len(cols))

        def forward(self, x):
            h = self.drop(F.gelu(self.l1(x)))
            return self.t(h), self.c(h)

    def inputs(feats, hists):
        return torch.from_numpy(np.concatenate([l2n(feats[:, i : i + TRUNK_DIM]) for i in range(0, feats.shape[1], TRUNK_DIM)]
                                               + [hists], 1))

    def fit(model, opt, epochs, batch_of, n, evaluate):
        best = (0.0, 0.0)
        for ep in range(epochs):
            model.train()
            for idx in torch.randperm(n).split(256):
                lt, lc = model(*batch_of(idx))
                loss = F.cross_entropy(lt, y_t[idx]) + F.cross_entropy(lc, y_c[idx])
                opt.zero_grad(); loss.backward(); opt.step()
            model.eval()
            with torch.no_grad():
                acc = accuracy(*(x.numpy() for x in evaluate()))
            best = max(best, acc)
            print(f"  epoch {ep + 1}: type {acc[0]:.3f}  colour family {acc[1]:.3f}", flush=True)
        return best

    x_tr, x_te = inputs(f_tr, h_tr), inputs(f_te, h_te)
    frozen = Heads(x_tr.shape[1])
    print("frozen trunk, heads only:")
    fit(frozen, torch.optim.AdamW(frozen.parameters(), 1e-3, weight_decay=0.05), a.epochs * 3,
        lambda i: (x_tr[i],), len(x_tr), lambda: frozen(x_te))

    class Tuned(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block, self.conv, self.bn = (copy.deepcopy(m) for m in (net._blocks[last], net._conv_head, net._bn1))
            self.heads = copy.deepcopy(frozen) if a.warm_start else Heads(x_tr.shape[1])

        def forward(self, maps, hists):
            z = F.relu6(self.bn(self.conv(self.block(maps, drop_connect_rate=0.2 * last / len(net._blocks)))))
            e = np.linspace(0, z.shape[2], BANDS + 1).round().astype(int)
            parts = [z.mean((2, 3))] + [z[:, :, e[i] : e[i + 1]].mean((2, 3)) for i in range(BANDS)]
            return self.heads(torch.cat([F.normalize(p, dim=1) for p in parts] + [hists], 1))

    tuned = Tuned()
    tail = [p for m in (tuned.block, tuned.conv, tuned.bn) for p in m.parameters()]
    opt = torch.optim.AdamW([{"params": tail, "lr": a.tail_lr},
                             {"params": tuned.heads.parameters(), "lr": 2e-4 if a.warm_start else 1e-3}],
                            weight_decay=0.05)
    mt, ht = torch.from_numpy(m_tr), torch.from_numpy(h_tr)
    print(f"last block + head convolution fine-tuned{' (warm start)' if a.warm_start else ''}:")
    best = fit(tuned, opt, a.epochs, lambda i: (mt[i].float(), ht[i]), len(mt),
               lambda: tuned(torch.from_numpy(m_te).float(), torch.from_numpy(h_te)))
    print(f"best fine-tuned epoch: type {best[0]:.3f}  colour family {best[1]:.3f}")


if __name__ == "__main__":
    main()
