"""The one PCA of trunk features: `fit` on training photos, `project` at query and ingest time.

Every PCA space of the image tower is this one: the tower's own visual vector and its
caption memory's keys (`pca_mean`, `pca`), the visual space (`visual_mean`,
`visual_pca`) and the second neighbours' keys (`visual_nb_tmean`, `visual_nb_tpca`).
The fit is here, beside its projection, so the two can never drift apart; only
`shopsearch.training` calls it."""

from __future__ import annotations

import numpy as np

from shopsearch.encoders.base import l2n
from shopsearch.encoders.photo import TRUNK_DIM


def fit(feats: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A trunk's features of training photos -> the mean and the top `dim` principal axes
    (1280 x dim) of their L2-normalised global features, float32."""
    x = l2n(feats[:, :TRUNK_DIM])
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean.astype(np.float32), vt[: min(dim, vt.shape[0])].T.astype(np.float32)


def project(feats: np.ndarray, mean: np.ndarray, pca: np.ndarray) -> np.ndarray:
    """A trunk's features -> unit rows in a fitted PCA space."""
    return l2n((l2n(feats[:, :TRUNK_DIM]) - mean) @ pca).astype(np.float32)
