"""`load_encoder`: the configured encoder pair, a CLIP-style plug-in or the default
`TowerPair` (the frozen MiniLM text tower and the catalogue-trained image tower)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from shopsearch.encoders.base import Encoder, ImageLike
from shopsearch.encoders.clip import OnnxClip, is_clip_folder
from shopsearch.encoders.image import ImageTower
from shopsearch.encoders.text import MiniLMText
from shopsearch.settings import Settings, get_settings


def load_encoder(settings: Settings | None = None, image_model: Path | None = None) -> Encoder:
    """Build the configured encoder pair; called once per process."""
    s = settings or get_settings()
    model_dir = Path(image_model or s.image_model)
    if is_clip_folder(model_dir):
        return OnnxClip(model_dir, threads=s.threads)
    text = MiniLMText(s)
    return TowerPair(text, ImageTower.load(model_dir, s))


class TowerPair:
    """The default pair: frozen MiniLM text tower + catalogue-trained image tower."""

    def __init__(self, text: MiniLMText, image: ImageTower) -> None:
        self.text = text
        self.image = image
        self.dim = text.dim
        self.visual_dim = image.visual_dim
        self.id = f"{text.id}+{image.id}"

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        return self.text.encode(texts)

    def encode_image(self, images: Sequence[ImageLike]) -> np.ndarray:
        return self.image.encode_image_both(images)[0]

    def encode_visual(self, images: Sequence[ImageLike]) -> np.ndarray:
        return self.image.encode_image_both(images)[1]

    def encode_image_both(self, images: Sequence[ImageLike]) -> tuple[np.ndarray, np.ndarray]:
        return self.image.encode_image_both(images)

    def encode_image_full(self, images: Sequence[ImageLike]) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
        return self.image.encode_image_full(images)

    def encode_image_heads(self, images: Sequence[ImageLike]) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        return self.image.encode_image_heads(images)

    def predict_attributes(self, images: Sequence[ImageLike]) -> list[dict[str, str]]:
        return self.image.encode_image_full(images)[2]

    def brand_words(self) -> list[str]:
        """Brands the image tower's brand head reads off a photo that a query may name."""
        return self.image.brand_words()
