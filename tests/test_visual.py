"""The visual space's neighbours: the nearest training photos vote for a brand and lend their
title words, never a photo for itself."""

from __future__ import annotations

import numpy as np
import pytest

from shopsearch.encoders.base import l2n
from shopsearch.encoders.visual import Neighbours, TunedKeys, Words, mean_votes
from shopsearch.index.lexical import tokenize
from shopsearch.training.visual import VisualConfig


def _neighbours(keys: np.ndarray, labels: list[int], k: int = 3, words: Words | None = None) -> Neighbours:
    cfg = VisualConfig(neighbours_k=k)
    block = {"head": "brand", "k": k, "tau": cfg.neighbours_tau, "blend": cfg.neighbours_blend,
             "skip_cosine": cfg.skip_cosine}
    return Neighbours(np.round(keys * 127).astype(np.int8), np.array(labels, np.int16), block, words)


def test_the_nearest_training_photos_vote_and_a_photo_never_votes_for_itself():
    rng = np.random.default_rng(0)
    base = l2n(rng.normal(size=(3, 64)))
    # training photos: two near base[0] (brand 0), one near base[1] (brand 1), one exactly base[2] (brand 2)
    keys = l2n(np.stack([base[0] + 0.1 * rng.normal(size=64), base[0] + 0.1 * rng.normal(size=64),
                         base[1] + 0.1 * rng.normal(size=64), base[2]]))
    nb = _neighbours(keys, [0, 0, 1, 2], k=2)
    votes = nb.vote(*nb.nearest(l2n(np.stack([base[0], base[1], base[2]]))), 3)
    assert votes.shape == (3, 3) and np.allclose(votes.sum(1), 1)
    assert votes[0].argmax() == 0 and votes[0, 0] > 0.99  # both neighbours are brand 0
    assert votes[1].argmax() == 1
    assert votes[2, 2] == 0.0  # the training photo itself (cosine 1) is skipped


def test_photos_without_a_known_brand_do_not_vote():
    rng = np.random.default_rng(1)
    keys = l2n(rng.normal(size=(4, 32)))
    nb = _neighbours(keys, [-1, -1, -1, 1], k=4)
    q = l2n(keys[0] + 0.3 * rng.normal(size=32))[None]
    v = nb.vote(*nb.nearest(q), 2)
    assert v[0, 1] == 1.0 and v[0, 0] == 0.0


def test_photos_borrow_the_title_words_of_their_nearest_training_photos():
    rng = np.random.default_rng(2)
    base = l2n(rng.normal(size=(2, 64)))
    titles = ["Puma Men Danny Black Slipper", "Puma Men Danny Brown Slipper", "Titan Women Silver Watch"]
    keys = l2n(np.stack([base[0] + 0.05 * rng.normal(size=64), base[0] + 0.05 * rng.normal(size=64), base[1]]))
    words, params = Words.build(titles, top=32)
    assert len(params["visual_nb_indptr"]) == 4 and params["visual_nb_vocab"].dtype.kind == "U"
    nb = _neighbours(keys, [0, 0, 1], k=2, words=words)
    near_line, the_watch = nb.words.borrow(*nb.nearest(l2n(np.stack([base[0], base[1]]))))
    danny, silver = tokenize("danny")[0], tokenize("silver")[0]
    assert danny in near_line and silver not in near_line  # the line name, from the same line in other colours
    # idf x the summed weight of the neighbours with the word: "danny" is on both (2 of 3 titles),
    # "black" and "brown" on one each (1 of 3), weighted as their photos vote
    assert near_line[danny] == pytest.approx(np.log(3 / 2), abs=1e-3)
    black, brown = near_line[tokenize("black")[0]], near_line[tokenize("brown")[0]]
    assert black > 0 and brown > 0 and (black + brown) / np.log(3) == pytest.approx(1.0, abs=2e-3)
    assert silver not in the_watch  # the watch's own photo (cosine 1) lends nothing: its other neighbour is a slipper
    assert danny in the_watch


def test_a_catalogue_without_brands_still_borrows_words(data_dir):
    """fit() on real photos with titles but no brand labels: the neighbours hold no brand, lend words."""
    from conftest import fashion_rows
    from shopsearch.encoders.visual import VisualSpace
    from shopsearch.training.visual import fit
    from shopsearch.settings import Settings

    rows = fashion_rows(24)
    photos = [str(data_dir / r["image_60x80"]) for r in rows]
    params, block = fit(photos, Settings(), VisualConfig(pca=8, fit_photos=24), brands=None,
                        titles=[r["productDisplayName"] for r in rows])
    nb = block["neighbours"]
    assert nb["words"]["top"] == 32 and (params["visual_nb_labels"] == -1).all()
    space = VisualSpace.from_model({"visual": block}, params, Settings())
    _, ev = space.encode(photos[:3], {"type": ["Shirts"]})  # heads without a brand head: no vote
    assert ev.votes == {} and len(ev.words) == 3 and all(ev.words)
    own = [set(tokenize(r["productDisplayName"])) for r in rows[:3]]
    assert all(set(w) - o for w, o in zip(ev.words, own))  # words from other titles than the photo's own


def test_two_sets_of_neighbours_lend_words_by_their_shares():
    """The fine-tuned space's neighbours lend words beside the ImageNet ones: each set's
    weights count at its share, and the words are ranked after they are summed."""
    titles = ["Puma Men Danny Black Slipper", "Nike Men Blue Shoes"]
    words, _ = Words.build(titles, top=32)
    one = (np.array([[0]]), np.array([[1.0]], np.float32))
    other = (np.array([[1]]), np.array([[1.0]], np.float32))
    mixed = words.borrow(*one, (*other, 0.25))[0]
    idf = np.log(2)  # a word on one title of two ("men", on both, weighs nothing)
    assert mixed[tokenize("danny")[0]] == pytest.approx(0.75 * idf, abs=1e-3)
    assert mixed[tokenize("nike")[0]] == pytest.approx(0.25 * idf, abs=1e-3)
    own = set(tokenize(titles[0])) - set(tokenize(titles[1]))
    assert words.borrow(*one)[0] == {w: pytest.approx(idf, abs=1e-3) for w in own}


def test_tuned_keys_keep_their_neighbours_through_int8():
    """The fine-tuned space's keys are stored int8 with a scale per row: each photo's nearest
    key is the same as with the float keys, and a projected photo finds its own key."""
    rng = np.random.default_rng(3)
    feats = rng.normal(size=(300, 1280)).astype(np.float32)
    params = TunedKeys.fit(feats, np.arange(0, 300, 2), 64)
    assert params["visual_nb_tkeys"].dtype == np.int8 and params["visual_nb_tkeys"].shape == (300, 64)
    assert np.abs(params["visual_nb_tkeys"]).max() == 127  # each row uses the whole int8 range
    tk = TunedKeys.load(params, {"blend": 0.5, "words": 0.5})
    exact = l2n((l2n(feats) - params["visual_nb_tmean"]) @ params["visual_nb_tpca"])
    assert (np.sum(tk.keys * exact, 1) > 0.999).all()
    q = tk.project(feats[:20] + 0.05 * rng.normal(size=(20, 1280)).astype(np.float32))
    assert ((q @ tk.keys.T).argmax(1) == np.arange(20)).all()


def test_votes_are_averaged_over_the_sets_that_vote():
    a = np.array([[1.0, 0.0], [0.0, 0.0], [0.5, 0.5]], np.float32)
    b = np.array([[0.0, 1.0], [0.2, 0.8], [0.0, 0.0]], np.float32)
    m = mean_votes(a, b)
    np.testing.assert_allclose(m, [[0.5, 0.5], [0.2, 0.8], [0.5, 0.5]])
    assert np.allclose(mean_votes(a * 0, b * 0), 0)  # nobody voted: no vote
