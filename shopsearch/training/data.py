"""A catalogue's training data: its (photo, caption) pairs, the validation split,
the products a trained model was trained on, and cached caption vectors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from shopsearch.catalog.reader import ColumnMap, read_rows, row_to_product
from shopsearch.catalog.where import compile_where


def is_validation(pid: str, fraction: float) -> bool:
    """Whether a product is in the validation slice: md5 of its id, below `fraction` of the range.
    The same split everywhere (training, the add-ons, the benches): never trained on."""
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


def training_products(card: dict, catalogue: Path, images: Path, exclude: str | None):
    """(products, photos, indices of the training products): what `train` trained on,
    with the card's validation slice and the exclusion rule left out."""
    frac = float(card.get("hyper_parameters", {}).get("val_fraction", 0.05))
    products, photos, _ = load_pairs(Path(catalogue), Path(images), exclude, None, None)
    return products, photos, [i for i, p in enumerate(products) if not is_validation(p.id, frac)]


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
