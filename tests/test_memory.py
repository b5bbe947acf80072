"""The caption memory: a photo borrows the captions of the training photos it looks like."""

from __future__ import annotations

import json

import numpy as np

from conftest import fashion_rows, write_csv
from shopsearch.encoders.image import ImageTower
from shopsearch.encoders.memory import CaptionMemory, MemoryConfig
from shopsearch.settings import Settings
from shopsearch.training.memory import add_to_model
from shopsearch.training.train import TrainConfig, train


def unit(rows):
    a = np.array(rows, np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_a_photo_borrows_its_neighbours_captions_never_its_own():
    keys = unit([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0, 1]])
    values = unit([[1, 0], [0, 1], [1, 1], [-1, 1]])
    mem = CaptionMemory(keys, values, MemoryConfig(k=1))
    lent = mem.lend(keys[:1])  # the first photo itself: its nearest other photo is the second
    np.testing.assert_allclose(lent[0], values[1], atol=1e-6)
    lent = mem.lend(unit([[0, 0.8, 0.2]]))  # a new photo near the third (cosine 0.97: not the same photo)
    np.testing.assert_allclose(lent[0], values[2], atol=1e-6)
    two = CaptionMemory(keys, values, MemoryConfig(k=2, tau=1e3)).lend(unit([[0, 0.7, 0.7]]))
    np.testing.assert_allclose(two[0], (values[2] + values[3]) / 2, atol=1e-3)  # a flat softmax: the mean
    # stored as int8 and read back: the same neighbours, vectors within rounding
    back = CaptionMemory.from_params(mem.params(), {"memory": mem.card()})
    assert back is not None and back.cfg == mem.cfg and mem.params()["memory_keys"].dtype == np.int8
    np.testing.assert_allclose(back.lend(keys[:1]), mem.lend(keys[:1]), atol=0.02)
    assert CaptionMemory.from_params({}, {}) is None


def test_training_builds_the_memory_from_training_products_and_serving_uses_it(tmp_path, data_dir):
    rows = fashion_rows(240, lambda r: int(r["id"]) % 5 != 0)
    csv = write_csv(tmp_path / "train.csv", rows)
    out = tmp_path / "model"
    rep = train(csv, data_dir, out, cfg=TrainConfig(epochs=3, augment_views=0, batch=64, memory_k=5), progress=False)
    card = json.loads((out / "card.json").read_text())
    assert rep.promoted and card["memory"]["products"] == card["data"]["train"]  # validation and unseen left out
    tower = ImageTower.load(out, Settings())
    assert tower.heads.memory is not None and "memory_keys" not in tower.heads.p
    photos = [str(data_dir / r["image_hr"]) for r in fashion_rows(6)]
    feats, hists = tower.trunk.features(photos, tower.heads.pooling, tower.heads.histogram)
    h = tower.heads.hidden(tower.heads.inputs(feats, hists))
    own, lent = tower.heads.aligned(h), tower.heads.aligned(h, feats)
    assert np.allclose(np.linalg.norm(lent, axis=1), 1, atol=1e-5) and not np.allclose(own, lent)
    np.testing.assert_allclose(tower.encode_image_both(photos)[0], lent, atol=1e-5)  # what ingest stores
    # a model without one, and the memory added to it afterwards, as training builds it
    bare = train(csv, data_dir, tmp_path / "bare", cfg=TrainConfig(epochs=3, augment_views=0, batch=64),
                 progress=False)  # the default: none
    assert "memory" not in json.loads((bare.out / "card.json").read_text())
    assert ImageTower.load(bare.out, Settings()).heads.memory is None
    info = add_to_model(bare.out, csv, data_dir, None)
    assert info["products"] == card["data"]["train"] and info["k"] == 5
    assert ImageTower.load(bare.out, Settings()).heads.memory is not None
