"""Cached trunk features for training: the frozen trunk is the slow part, so each
photo (per augmentation seed and input size) is computed once and kept on disk in
one store per (size, seed), looked up by path."""

from __future__ import annotations

import io
import logging
import os
import zlib
import random
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageFilter
from tqdm import tqdm

from shopsearch.encoders.photo import HISTOGRAMS, trunk_dim
from shopsearch.encoders.trunk import Trunk

log = logging.getLogger(__name__)


def augment(path: str, seed: int) -> Image.Image:
    """A colour-keeping augmentation: crop, flip, small rotation, blur, JPEG noise.
    No hue or saturation changes: colour is what shoppers search by."""
    rng = random.Random(seed)
    img = Image.open(path).convert("RGB")
    w, h = img.size
    s = rng.uniform(0.75, 1.0)
    cw, ch = int(w * s), int(h * s)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    img = img.crop((x, y, x + cw, y + ch))
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    img = img.rotate(rng.uniform(-10, 10), resample=Image.BILINEAR, fillcolor=(255, 255, 255))
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=rng.randint(40, 90))
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _store(cache_dir: Path, trunk: Trunk, seed: int | None, pooling: str, hist: str = "rgb") -> Path:
    mode = ("" if pooling == "avg" else f"{pooling}-") + ("" if hist == "rgb" else f"{hist.replace('+', '-')}-")
    net = f"{trunk.key}-" if trunk.key else ""
    return cache_dir / f"trunk-{trunk.size[0]}x{trunk.size[1]}-{net}{mode}{'plain' if seed is None else f'aug{seed}'}.npz"


def cached_features(
    paths: Sequence[str], trunk: Trunk, cache_dir: Path, augment_seed: int | None = None, desc: str = "photos",
    pooling: str = "avg", hist: str = "rgb",
) -> tuple[np.ndarray, np.ndarray]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = [os.path.abspath(p) for p in paths]  # one key per photo, whatever the working directory
    f = _store(cache_dir, trunk, augment_seed, pooling, hist)
    dim = trunk_dim(pooling)
    known_paths: list[str] = []
    feats = np.zeros((0, dim), np.float32)
    hists = np.zeros((0, HISTOGRAMS[hist]), np.float32)
    if f.exists():
        with np.load(f, allow_pickle=False) as z:
            known_paths, feats, hists = list(z["paths"]), z["feats"], z["hists"]
    where = {p: i for i, p in enumerate(known_paths)}
    missing = [p for p in dict.fromkeys(paths) if p not in where]
    if missing:
        nf = np.zeros((len(missing), dim), np.float32)
        nh = np.zeros((len(missing), HISTOGRAMS[hist]), np.float32)
        step = 512
        with tqdm(total=len(missing), desc=f"features: {desc}", unit="img") as bar:
            for s in range(0, len(missing), step):
                chunk = missing[s : s + step]
                items = chunk if augment_seed is None else [
                    augment(p, augment_seed * 1_000_003 + zlib.crc32(p.encode())) for p in chunk
                ]
                nf[s : s + len(chunk)], nh[s : s + len(chunk)] = trunk.features(items, pooling, hist)
                bar.update(len(chunk))
        known_paths += missing
        feats, hists = np.concatenate([feats, nf]), np.concatenate([hists, nh])
        tmp = f.with_suffix(".tmp.npz")
        np.savez(tmp, paths=np.array(known_paths), feats=feats, hists=hists)
        os.replace(tmp, f)
        where = {p: i for i, p in enumerate(known_paths)}
    idx = np.array([where[p] for p in paths], np.int64)
    return feats[idx], hists[idx]
