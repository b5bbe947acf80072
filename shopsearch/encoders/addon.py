"""Adding a part to a model folder after training (the caption memory, the visual
space): the same training products `train` used, an atomic rewrite of the
folder's weights, and the command line both share."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def training_products(card: dict, catalogue: Path, images: Path, exclude: str | None):
    """(products, photos, indices of the training products): what `train` trained on,
    with the card's validation slice and the exclusion rule left out."""
    from shopsearch.encoders.train import _is_val, load_pairs

    frac = float(card.get("hyper_parameters", {}).get("val_fraction", 0.05))
    products, photos, _ = load_pairs(Path(catalogue), Path(images), exclude, None, None)
    return products, photos, [i for i, p in enumerate(products) if not _is_val(p.id, frac)]


def write_part(model_dir: Path, card: dict, prefix: str, params: dict[str, np.ndarray]) -> None:
    """Replace every `prefix*` array of model.npz with `params` (a rebuild replaces the whole
    part), then write the card."""
    model_dir = Path(model_dir)
    with np.load(model_dir / "model.npz") as z:
        kept = {k: z[k] for k in z.files if not k.startswith(prefix)}
    tmp = model_dir / "model.tmp.npz"
    np.savez_compressed(tmp, **kept, **params)
    tmp.replace(model_dir / "model.npz")
    (model_dir / "card.json").write_text(json.dumps(card, indent=2))


def arguments(description: str | None) -> argparse.ArgumentParser:
    """MODEL CATALOGUE --images DIR [--exclude RULE]: the part's own options go on top."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("model", type=Path)
    ap.add_argument("catalogue", type=Path)
    ap.add_argument("--images", type=Path, required=True)
    ap.add_argument("--exclude", default=None, help='rows the model was not trained on, e.g. "id % 5 == 0"')
    return ap
