"""Training the image tower: a tiny real run on a few hundred fashion products."""

from __future__ import annotations

import json

import pytest

from conftest import fashion_rows, write_csv
from shopsearch.catalog.brand import BrandMatcher, brand_from_title, label_brands, product_brand, query_brands
from shopsearch.encoders.image import ImageTower
from shopsearch.encoders.photo import HISTOGRAMS, HIST_DIM, TRUNK_DIM
from shopsearch.settings import Settings
from shopsearch.training.train import TrainConfig, train


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory, data_dir):
    return write_csv(tmp_path_factory.mktemp("t") / "train.csv", fashion_rows(300, lambda r: int(r["id"]) % 5 != 0))


def test_loss_falls_card_is_written_and_heads_give_valid_labels(tmp_path, train_csv, data_dir):
    out = tmp_path / "model"
    rep = train(train_csv, data_dir, out, cfg=TrainConfig(epochs=6, augment_views=0, batch=64), progress=False)
    assert rep.promoted and rep.losses[-1] < rep.losses[0]
    card = json.loads((out / "card.json").read_text())
    for key in ("data", "split", "hyper_parameters", "validation_metrics", "train_seconds", "heads"):
        assert key in card, key
    assert {"type", "colour", "gender", "brand"} <= set(card["heads"])
    assert {"nike", "puma"} <= set(card["heads"]["brand"])  # brands from the titles' "<Brand> <Gender> ..." prefix
    assert card["data"]["products"] == 300 and card["hyper_parameters"]["epochs"] == 6
    # the model folder holds the int8 trunk its heads were trained on, and serving uses it
    assert card["trunk"]["int8"] and (out / card["trunk"]["file"]).is_file()
    assert card["trunk"]["calibration_photos"] == 192
    tower = ImageTower.load(out, Settings())
    assert tower.trunk.key == f"int8-{card['trunk']['key']}" and tower.trunk.path == out / card["trunk"]["file"]
    # the heads see the RGB and HSV histograms; the visual vector keeps the RGB one only
    assert card["histogram"] == tower.heads.histogram == "rgb+hsv"
    assert tower.heads.p["w1"].shape[0] == 4 * TRUNK_DIM + HISTOGRAMS["rgb+hsv"]
    aligned, visual = tower.encode_image_both([str(data_dir / r["image_60x80"]) for r in fashion_rows(3)])
    assert aligned.shape == (3, 384) and visual.shape == (3, tower.visual_dim) and tower.visual_dim == 256 + HIST_DIM
    half = tmp_path / "half"  # a model folder copied without its trunk is refused, not served with the wrong one
    half.mkdir()
    for f in ("card.json", "model.npz"):
        (half / f).write_bytes((out / f).read_bytes())
    with pytest.raises(FileNotFoundError, match="trunk-int8.onnx"):
        ImageTower.load(half, Settings())
    photos = [str(data_dir / r["image_hr"]) for r in fashion_rows(5)]
    for attrs in tower.predict_attributes(photos):
        for name, labels in card["heads"].items():
            assert attrs[name] in labels
            probs = attrs["p"][name]
            assert probs and all(0 < v <= 1 for v in probs.values()) and sum(probs.values()) <= 1 + 5e-5 * len(probs) + 1e-9  # each rounded to 4 places
            assert max(probs, key=probs.get) == attrs[name]


def test_self_supervised_warm_up_learns_to_match_two_views_of_a_photo(tmp_path, train_csv, data_dir):
    out = tmp_path / "model"
    cfg = TrainConfig(epochs=2, augment_views=1, batch=64, ssl_epochs=3, int8_trunk=False, histogram="rgb")
    rep = train(train_csv, data_dir, out, cfg=cfg, progress=False)
    card = json.loads((out / "card.json").read_text())
    assert "trunk" not in card and not list(out.glob("*.onnx"))  # the fp32 trunk: the shared export
    tower = ImageTower.load(out, Settings())
    assert tower.trunk.key == "" and tower.heads.histogram == "rgb"  # the earlier models' RGB-only histogram
    assert tower.heads.p["w1"].shape[0] == 4 * TRUNK_DIM + HIST_DIM
    assert tower.encode_image_both([str(data_dir / r["image_60x80"]) for r in fashion_rows(2)])[0].shape == (2, 384)
    with pytest.raises(ValueError, match="unknown colour histogram"):
        train(train_csv, data_dir, tmp_path / "bad", cfg=TrainConfig(histogram="lab"), progress=False)
    with pytest.raises(ValueError, match="unknown trunk 'resnet50'"):  # before any photo is decoded
        train(train_csv, data_dir, tmp_path / "bad", cfg=TrainConfig(finetune_base="resnet50"), progress=False)
    assert len(card["ssl_losses"]) == 3 and card["ssl_losses"][-1] < card["ssl_losses"][0]
    assert card["hyper_parameters"]["ssl_epochs"] == 3 and len(rep.losses) == 2


def test_interrupted_training_resumes_from_its_checkpoint(tmp_path, train_csv, data_dir):
    out = tmp_path / "model"
    cfg = TrainConfig(epochs=4, augment_views=0, batch=64)

    def stop_after_two(epoch: int) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(train_csv, data_dir, out, cfg=cfg, progress=False, on_epoch=stop_after_two)
    assert not (out / "model.npz").exists()
    rep = train(train_csv, data_dir, out, cfg=cfg, progress=False)
    assert rep.resumed_from == 2 and len(rep.losses) == 4
    assert (out / "model.npz").exists()


def test_a_worse_model_is_not_promoted_unless_forced(tmp_path, train_csv, data_dir):
    out = tmp_path / "model"
    good = train(train_csv, data_dir, out, cfg=TrainConfig(epochs=6, augment_views=0, batch=64), progress=False)
    served = (out / "card.json").read_text()
    worse_cfg = TrainConfig(epochs=1, augment_views=0, batch=64, lr=1e-5)
    worse = train(train_csv, data_dir, out, cfg=worse_cfg, progress=False)
    assert worse.metrics["t2i_r10"] < good.metrics["t2i_r10"]
    assert not worse.promoted and (out.parent / "model.candidate" / "model.npz").exists()
    assert (out / "card.json").read_text() == served
    forced = train(train_csv, data_dir, out, cfg=worse_cfg, progress=False, force=True)
    assert forced.promoted and json.loads((out / "card.json").read_text())["hyper_parameters"]["lr"] == 1e-5


def test_brand_labels_come_from_the_column_else_the_title_prefix():
    assert brand_from_title("Puma Men Black Sports Shoes") == "puma"
    assert brand_from_title("Gini and Jony Girls Pink Top") == "gini and jony"
    assert brand_from_title("United Colors of Benetton Women Red Top") == "united colors of benetton"
    assert brand_from_title("Men Black Shirt") == ""  # no words before the gender word
    assert brand_from_title("Black leather wallet with zip") == ""  # not the "<Brand> <Gender>" pattern
    assert product_brand("Nike ", "Puma Men Black Shoes") == "nike"  # a brand column wins
    titles = ["Revlon Women Red Lipstick", "Revlon Colorstay Lip Liner", "Denim Men Blue Jeans", "Levis Men Denim Jacket",
              "Roadster Denim Shirt"]
    assert label_brands([""] * 5, titles, 1)[:2] == ["revlon", "revlon"]  # a known brand the title starts with
    assert query_brands(["revlon", "denim", "levis"], titles) == ["revlon", "levis"]  # "denim" is mostly a word
    m = BrandMatcher(["puma", "red tape", "red", "gini and jony"])
    assert m.find("Red Tape Men Brown Shoes") == ["red tape"]  # longest first
    assert m.find("a PUMA bag") == ["puma"] and m.find("pumas") == [] and m.find("") == []
