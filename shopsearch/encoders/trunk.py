"""The photo trunk: an EfficientNet-Lite graph on onnxruntime (normalisation and pooling
inside it), the shared frozen fp32 export or a model's own int8 or fine-tuned one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from shopsearch.encoders.base import ImageLike
from shopsearch.encoders.photo import HISTOGRAMS, histogram, pixels, trunk_dim
from shopsearch.encoders.runtime import effnet_file, ort_session
from shopsearch.settings import Settings


def effnet_trunk(settings: Settings, size: tuple[int, int] | None = None) -> Path:
    """The shared frozen fp32 trunk's file for an input size, exported on first use."""
    path = effnet_file(settings, size)
    if not path.exists():  # not exported yet (`shopsearch setup` does the default size once): export it
        # now, with torch, which serving never imports otherwise
        from shopsearch.training.export import export_effnet

        export_effnet(settings, size)
    return path


def trunk_cache_key(own: dict) -> str:
    """The feature-cache key of a model's own trunk, from its card's `trunk` block."""
    return f"{'ft' if own.get('finetuned') else 'int8'}-{own['key']}"


class Trunk:
    """EfficientNet-Lite0 on onnxruntime (normalisation and pooling in its graph);
    the next batch's photos are decoded in threads while the network runs."""

    def __init__(self, settings: Settings, path: Path | None = None, key: str = "", spin: bool = False,
                 size: tuple[int, int] | None = None) -> None:
        """`path`: a model's own trunk (int8 from `training.export.quantize_trunk`, or
        fine-tuned by `training.finetune`), default the shared fp32 export; `key` names its feature
        cache, so features of different trunks never mix; `size` (w, h): the input
        that trunk was built for (default the settings'); `spin`: let onnxruntime's
        idle workers spin (off: they starve the decode thread)."""
        self.size = tuple(size) if size else (settings.image_width, settings.image_height)
        self.path = Path(path) if path else effnet_trunk(settings, self.size)
        if path is not None and not key:
            raise ValueError("a model's own trunk needs its key: its features must not share the fp32 trunk's cache")
        self.key = key
        self.session = ort_session(self.path, settings.threads, spin)
        self.batch = settings.encode_batch
        self.pool = ThreadPoolExecutor(max_workers=2)

    def _prep(self, src: ImageLike, hist: str = "rgb") -> tuple[np.ndarray, np.ndarray]:
        """uint8 (H, W, 3) pixels at the input size, and the colour histogram."""
        arr = pixels(src, self.size)
        return arr, histogram(arr, hist)

    def run(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) -> pooled features (N, 1280 * (1 + BANDS))."""
        return self.session.run(None, {"rgb": rgb})[0]

    def features(
        self, images: Sequence[ImageLike], pooling: str = "avg", hist: str = "rgb"
    ) -> tuple[np.ndarray, np.ndarray]:
        """(pooled trunk features N x 1280 (x4 for bands), colour histograms N x HISTOGRAMS[hist])."""
        n = len(images)
        dim = trunk_dim(pooling)
        feats = np.zeros((n, dim), dtype=np.float32)
        hists = np.zeros((n, HISTOGRAMS[hist]), dtype=np.float32)

        def decode(start: int) -> list[tuple[np.ndarray, np.ndarray]]:
            return [self._prep(x, hist) for x in images[start : start + self.batch]]

        starts = list(range(0, n, self.batch))
        ahead = self.pool.submit(decode, 0) if n else None
        for j, s in enumerate(starts):
            chunk = ahead.result()
            # decode the next batch while this one is on the network
            ahead = self.pool.submit(decode, starts[j + 1]) if j + 1 < len(starts) else None
            feats[s : s + len(chunk)] = self.run(np.stack([c[0] for c in chunk]))[:, :dim]
            hists[s : s + len(chunk)] = np.stack([c[1] for c in chunk])
        return feats, hists
