"""Writing a model folder: promoting a newly trained model (only when it is no worse
on validation than the served one, unless forced), and adding a part to a trained
one (the caption memory, the visual space: an atomic rewrite of its weights, and
the command line both add-ons share)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def promote(out: Path, params: dict[str, np.ndarray], card: dict, metrics: dict, force: bool,
            trunk_path: Path | None = None, trunk_file: str | None = None) -> tuple[Path, bool, dict | None]:
    """Write a trained model to `out`, or beside it as `<out>.candidate` when the served model
    there reads a better validation t2i R@10 (unless `force`); `trunk_path`: the model's own trunk,
    copied in as `trunk_file`. Returns (the folder written, promoted, the served model's metrics)."""
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
    if trunk_path is not None:
        shutil.copyfile(trunk_path, tmp / trunk_file)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target, promoted, previous


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
    ap.add_argument("--exclude", default=None, help='rows the model was not trained on, e.g. "id %% 5 == 0"')
    return ap
