"""The encoder interface shared by every text/image model pair."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
from PIL import Image

ImageLike = str | Path | Image.Image


@runtime_checkable
class Encoder(Protocol):
    """Text and images into one space (`encode_text`, `encode_image`), plus an
    optional purely visual vector for photo-to-photo search (`encode_visual`)."""

    id: str
    dim: int
    visual_dim: int

    def encode_text(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_image(self, images: Sequence[ImageLike]) -> np.ndarray: ...

    def encode_visual(self, images: Sequence[ImageLike]) -> np.ndarray: ...

    def encode_image_both(self, images: Sequence[ImageLike]) -> tuple[np.ndarray, np.ndarray]: ...


def l2n(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation (safe for zero rows)."""
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)
