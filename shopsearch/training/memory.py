"""Building the caption memory (`shopsearch.encoders.memory`) of a trained model from
the products it was trained on, without training again:

    python -m shopsearch.training.memory MODEL CATALOGUE --images DIR [--exclude RULE]

`train --memory K` builds the same memory in the same way."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from shopsearch.encoders.image import ImageTower
from shopsearch.encoders.memory import CaptionMemory, MemoryConfig
from shopsearch.encoders.pca import project
from shopsearch.encoders.text import MiniLMText
from shopsearch.settings import Settings, get_settings
from shopsearch.training.data import cached_text, training_products
from shopsearch.training.features import cached_features
from shopsearch.training.model_folder import arguments, write_part

log = logging.getLogger(__name__)


def add_to_model(model_dir: Path, catalogue: Path, images: Path, exclude: str | None, cfg: MemoryConfig | None = None,
                 settings: Settings | None = None) -> dict:
    """Build the caption memory of a trained model from the products it was trained
    on (the card's exclusion rule and validation slice left out) and write it into
    its folder: the same memory `train` builds, without training again."""
    s = settings or get_settings()
    model_dir = Path(model_dir)
    tower = ImageTower.load(model_dir, s)
    card = json.loads((model_dir / "card.json").read_text())
    products, photos, keep = training_products(card, catalogue, images, exclude)
    cache = Path(s.cache) / "features"
    feats, _ = cached_features([photos[i][0] for i in keep], tower.trunk, cache, None, "memory photos",
                               tower.heads.pooling, tower.heads.histogram)
    texts = cached_text(MiniLMText(s), [products[i].caption() for i in keep], cache)
    mem = CaptionMemory(project(feats, tower.heads.p["pca_mean"], tower.heads.p["pca"]), texts,
                        cfg or MemoryConfig())
    card["memory"] = mem.card() | {"built_by": "shopsearch.training.memory.add_to_model", "excluded": exclude}
    write_part(model_dir, card, "memory_", mem.params())
    log.info("caption memory of %d training photos written to %s", len(keep), model_dir)
    return card["memory"]


def main() -> None:
    """python -m shopsearch.training.memory MODEL CATALOGUE --images DIR [--exclude RULE]"""
    a = arguments(main.__doc__).parse_args()
    logging.basicConfig(level=logging.INFO)
    print(json.dumps(add_to_model(a.model, a.catalogue, a.images, a.exclude), indent=2))


if __name__ == "__main__":
    main()
