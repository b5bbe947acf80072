"""The visual space's brand neighbours: the nearest training photos vote, never a photo for itself."""

from __future__ import annotations

import numpy as np

from shopsearch.encoders.base import l2n
from shopsearch.encoders.visual import Neighbours, VisualConfig


def _neighbours(keys: np.ndarray, labels: list[int], k: int = 3) -> Neighbours:
    cfg = VisualConfig(neighbours_k=k)
    block = {"head": "brand", "k": k, "tau": cfg.neighbours_tau, "blend": cfg.neighbours_blend,
             "skip_cosine": cfg.skip_cosine}
    return Neighbours(np.round(keys * 127).astype(np.int8), np.array(labels, np.int16), block)


def test_the_nearest_training_photos_vote_and_a_photo_never_votes_for_itself():
    rng = np.random.default_rng(0)
    base = l2n(rng.normal(size=(3, 64)))
    # training photos: two near base[0] (brand 0), one near base[1] (brand 1), one exactly base[2] (brand 2)
    keys = l2n(np.stack([base[0] + 0.1 * rng.normal(size=64), base[0] + 0.1 * rng.normal(size=64),
                         base[1] + 0.1 * rng.normal(size=64), base[2]]))
    nb = _neighbours(keys, [0, 0, 1, 2], k=2)
    votes = nb.vote(l2n(np.stack([base[0], base[1], base[2]])), 3)
    assert votes.shape == (3, 3) and np.allclose(votes.sum(1), 1)
    assert votes[0].argmax() == 0 and votes[0, 0] > 0.99  # both neighbours are brand 0
    assert votes[1].argmax() == 1
    assert votes[2, 2] == 0.0  # the training photo itself (cosine 1) is skipped


def test_photos_without_a_known_brand_do_not_vote():
    rng = np.random.default_rng(1)
    keys = l2n(rng.normal(size=(4, 32)))
    nb = _neighbours(keys, [-1, -1, -1, 1], k=4)
    q = l2n(keys[0] + 0.3 * rng.normal(size=32))[None]
    v = nb.vote(q, 2)
    assert v[0, 1] == 1.0 and v[0, 0] == 0.0
