"""Fine-tuning the whole trunk on the catalogue: a tiny real run on fashion photos."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import fashion_rows, write_csv
from shopsearch.encoders.image import ImageTower
from shopsearch.encoders.photo import BANDS, HISTOGRAMS, HIST_DIM, TRUNK_DIM
from shopsearch.encoders.trunk import Trunk
from shopsearch.settings import Settings
from shopsearch.training.finetune import (
    FinetuneConfig, augment_batch, build, decode_all, export_trunk, finetune, predict,
)
from shopsearch.training.train import TrainConfig, train
from shopsearch.training.visual import VisualConfig, add_to_model, model_id


@pytest.fixture(scope="module")
def rows():
    return fashion_rows(160, lambda r: int(r["id"]) % 5 != 0 and bool(r["image_60x80"]))


@pytest.fixture(scope="module")
def decoded(rows, data_dir):
    cfg = FinetuneConfig()
    rgb, hists = decode_all([str(data_dir / r["image_60x80"]) for r in rows], (cfg.width, cfg.height), "rgb+hsv",
                            progress=False)
    types = sorted({r["articleType"] for r in rows})
    labels = {"type": (types, np.array([types.index(r["articleType"]) for r in rows]))}
    rng = np.random.default_rng(0)
    texts = rng.normal(size=(len(rows), 384)).astype(np.float32)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    return rgb, hists, labels, texts


def test_decoded_photos_have_the_fine_tuning_shape(decoded):
    rgb, hists, _, _ = decoded
    cfg = FinetuneConfig()
    assert rgb.shape == (160, cfg.height, cfg.width, 3) and rgb.dtype == np.uint8
    assert hists.shape == (160, HISTOGRAMS["rgb+hsv"]) and np.isfinite(hists).all()
    with pytest.raises(ValueError, match="at least 96"):  # the last map would have fewer rows than bands
        import torch

        build(torch, {"type": ["a", "b"]}, 10, FinetuneConfig(height=80, width=64))


def test_augmentation_keeps_colour_and_fills_with_white(decoded):
    import torch

    from shopsearch.encoders.photo import MEAN, STD

    norm = lambda t: (t - torch.from_numpy(MEAN)) / torch.from_numpy(STD)
    px = lambda t: t * torch.from_numpy(STD) + torch.from_numpy(MEAN)
    rgb = decoded[0][:16]
    x = norm(torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255)
    y = augment_batch(torch, x, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and not torch.allclose(x, y)  # the photos really moved
    # no hue or brightness shifts: a solid red or navy photo stays that very colour
    # (the middle is never a border), and what the rotation uncovers is white
    colours = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.1, 0.35]]).reshape(2, 3, 1, 1)
    solid = norm(colours.expand(2, 3, 96, 72).contiguous())
    out = px(augment_batch(torch, solid, torch.Generator().manual_seed(2)))
    assert torch.allclose(out[:, :, 40:56, 28:44], colours.expand(2, 3, 16, 16), atol=1e-4)
    blank = norm(torch.ones(2, 3, 96, 72))
    assert torch.allclose(px(augment_batch(torch, blank, torch.Generator().manual_seed(3))), torch.ones(1), atol=1e-4)


def test_fine_tuning_learns_checkpoints_resumes_and_exports_the_same_features(decoded, tmp_path):
    import torch

    rgb, hists, labels, texts = decoded
    views = [np.array([i]) for i in range(len(rgb))]
    cap_ids = np.arange(len(rgb))
    cfg = FinetuneConfig(epochs=3, batch=32, hidden=64)
    ckpt = tmp_path / "ft.pt"

    def stop_after_two(epoch, model):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune(rgb, hists, views, texts, cap_ids, labels, np.arange(128), cfg, checkpoint=ckpt, fingerprint="x",
                 progress=False, on_epoch=stop_after_two)
    first = torch.load(ckpt, weights_only=False)
    assert first["epoch"] == 2 and len(first["losses"]) == 2
    model, losses = finetune(rgb, hists, views, texts, cap_ids, labels, np.arange(128), cfg, checkpoint=ckpt,
                             fingerprint="x", progress=False)
    assert len(losses) == 3 and losses[:2] == first["losses"]  # resumed, not restarted
    assert losses[-1] < losses[0]
    # another fingerprint (another catalogue or config) starts afresh
    _, other = finetune(rgb, hists, views, texts, cap_ids, labels, np.arange(128), FinetuneConfig(epochs=1, batch=32,
                        hidden=64), checkpoint=ckpt, fingerprint="y", progress=False)
    assert len(other) == 1
    # the exported graph (uint8 in, pooled out) gives the torch model's features
    path = export_trunk(model, cfg.width, cfg.height, tmp_path / "trunk.onnx")
    trunk = Trunk(Settings(), path, "ft-test", size=(cfg.width, cfg.height))
    got = trunk.run(rgb[:8])
    assert got.shape == (8, TRUNK_DIM * (1 + BANDS))
    with torch.no_grad():
        from shopsearch.encoders.photo import MEAN, STD

        x = (torch.from_numpy(rgb[:8]).permute(0, 3, 1, 2).float() / 255 - torch.from_numpy(MEAN)) / torch.from_numpy(STD)
        want = model.pooled(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)
    z, logits, g = predict(model, rgb[:8], hists[:8])
    assert z.shape == (8, 384) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-4)
    np.testing.assert_allclose(g, want[:, :TRUNK_DIM], rtol=1e-3, atol=1e-3)
    assert logits["type"].shape == (8, len(labels["type"][0]))


def test_train_fine_tunes_the_trunk_and_serves_it(tmp_path, data_dir):
    csv = write_csv(tmp_path / "train.csv", fashion_rows(240, lambda r: int(r["id"]) % 5 != 0))
    out = tmp_path / "model"
    cfg = TrainConfig(epochs=3, augment_views=0, batch=64, finetune_epochs=3, finetune_batch=64,
                      finetune_min_products=0, finetune_width=72, finetune_height=96)  # not the default size
    rep = train(csv, data_dir, out, cfg=cfg, progress=False)
    card = json.loads((out / "card.json").read_text())
    t = card["trunk"]
    assert t["finetuned"] and not t["int8"] and (out / t["file"]).is_file() and t["file"] == "trunk-finetuned.onnx"
    assert card["input_size"] == t["input_size"] == [72, 96] and "fine-tuned" in card["kind"]
    assert len(t["losses"]) == 3 and t["losses"][-1] < t["losses"][0]
    assert card["hyper_parameters"]["epochs"] == 3 and rep.promoted
    assert not (tmp_path / ".model.training").exists()  # the work folder (checkpoints, export) is cleaned up
    tower = ImageTower.load(out, Settings())
    assert tower.trunk.key == f"ft-{t['key']}" and tower.trunk.size == (72, 96)
    photos = [str(data_dir / r["image_hr"]) for r in fashion_rows(4)]
    aligned, visual, attrs = tower.encode_image_full(photos)
    assert aligned.shape == (4, 384) and np.isfinite(aligned).all() and np.isfinite(visual).all()
    assert all(a["type"] in card["heads"]["type"] for a in attrs)
    # photo-to-photo: the visual vector comes from the frozen ImageNet trunk at 96x128, not the fine-tuned one
    v = card["visual"]
    assert v["input_size"] == [96, 128] and v["alpha"] == 2.0 and card["id"] == model_id(card["id"].rsplit("-v", 1)[0], v)
    assert tower.visual_space is not None and visual.shape == (4, tower.visual_dim) == (4, v["pca"] + HIST_DIM)
    frozen = Trunk(Settings(), size=(96, 128))
    assert not frozen.key  # the shared ImageNet export
    np.testing.assert_allclose(visual, tower.visual_space.vectors(*frozen.features(photos, "avg", "rgb")), atol=1e-5)
    distorted = [Image.open(p).convert("RGB").crop((12, 15, 200, 270)).rotate(6, fillcolor=(255, 255, 255))
                 for p in photos]
    assert ((tower.encode_image_both(distorted)[1] @ visual.T).argmax(1) == np.arange(4)).all()
    # brand neighbours: every training photo is a key with its brand label, and they vote in the attributes
    nb = v["neighbours"]
    with np.load(out / "model.npz") as z:
        assert z["visual_nb_keys"].dtype == np.int8 and z["visual_nb_keys"].shape == (nb["photos"], v["pca"])
        assert len(z["visual_nb_labels"]) == nb["photos"] and (z["visual_nb_labels"] >= 0).any()
    assert tower.visual_space.neighbours is not None and "brand" in card["heads"]
    feats, hists = tower.trunk.features(photos, tower.heads.pooling, tower.heads.histogram)
    _, alone = tower.visual_space.encode(photos, tower.heads.labels)  # the ImageNet neighbours alone
    assert alone.votes["brand"][1] == 0.3
    # the second neighbours, in the fine-tuned trunk's space: the same photos, int8 keys with a scale per row
    tuned = nb["tuned"]
    with np.load(out / "model.npz") as z:
        assert z["visual_nb_tkeys"].dtype == np.int8 and z["visual_nb_tkeys"].shape == (nb["photos"], tuned["pca"])
        assert z["visual_nb_tscale"].shape == (nb["photos"],) and tuned["pca"] > 32
    nbs = tower.visual_space.neighbours
    t2, w2 = nbs.nearest(nbs.tuned.project(feats), table=nbs.tuned.keys)
    _, ev = tower.visual_space.encode(photos, tower.heads.labels, feats)  # as serving calls it: both sets vote
    votes = ev.votes
    dist, blend = votes["brand"]
    assert dist.shape == (4, len(card["heads"]["brand"])) and blend == tuned["blend"] == 0.5
    assert np.allclose(dist.sum(1), 1, atol=1e-5)  # every photo has labelled neighbours here
    second = nbs.vote(t2, w2, dist.shape[1])
    both = (alone.votes["brand"][0].sum(1) > 0) & (second.sum(1) > 0)
    np.testing.assert_allclose(dist[both], (alone.votes["brand"][0][both] + second[both]) / 2, atol=1e-6)
    # a set whose neighbours carry no brand leaves the other set's vote whole
    np.testing.assert_allclose(dist[~both], (alone.votes["brand"][0] + second)[~both], atol=1e-6)
    h = tower.heads.hidden(tower.heads.inputs(feats, hists))
    served = tower.heads.probabilities(h, "brand", votes)
    np.testing.assert_allclose(served, 0.5 * tower.heads.probabilities(h, "brand") + 0.5 * dist, atol=1e-6)
    assert all(a["brand"] == card["heads"]["brand"][int(i)] for a, i in zip(attrs, served.argmax(1)))
    # borrowed words: the training titles' vocabulary is in the model, and every photo stores the
    # weightiest words of its nearest training photos' titles (never its own: cosine >= 0.995 is skipped)
    assert nb["words"]["vocab"] == len(tower.visual_space.neighbours.words.vocab) > 50
    vocab = set(tower.visual_space.neighbours.words.vocab)
    assert all(0 < len(a["words"]) <= nb["words"]["top"] and set(a["words"]) <= vocab for a in attrs)
    assert all(v > 0 for a in attrs for v in a["words"].values())
    with np.load(out / "model.npz") as z:
        trained_labels = z["visual_nb_labels"].copy()
    # a model trained before the visual space existed gets it afterwards, and a new id with it;
    # its brand neighbours carry the labels train gave them
    added = add_to_model(out, csv, data_dir, None, VisualConfig(pca=32))
    assert added["pca"] == 32 and added["id"] != card["id"] and added["neighbours"]["words"]["top"] == 32
    with np.load(out / "model.npz") as z:
        np.testing.assert_array_equal(z["visual_nb_labels"], trained_labels)
    again = ImageTower.load(out, Settings())
    assert again.id == added["id"] and again.visual_dim == 32 + HIST_DIM
    assert again.encode_image_both(photos[:1])[1].shape == (1, 32 + HIST_DIM)
    _words_rank_photos_only(tmp_path, csv, data_dir, out)
    # a small catalogue keeps the frozen trunk: too few products to fine-tune on
    small = train(csv, data_dir, tmp_path / "small", cfg=TrainConfig(epochs=2, augment_views=0, batch=64,
                                                                         finetune_epochs=3), progress=False)
    small_card = json.loads((small.out / "card.json").read_text())
    assert small_card["trunk"]["int8"] and "finetuned" not in small_card["trunk"]
    assert small_card["hyper_parameters"]["epochs"] == 2
    assert "visual" not in small_card and ImageTower.load(small.out, Settings()).visual_space is None
    with pytest.raises(ValueError, match="frozen"):
        add_to_model(small.out, csv, data_dir, None)


def test_instance_discrimination_trains_on_two_views_of_each_photo(decoded):
    rgb, hists, labels, texts = decoded
    views = [np.array([i]) for i in range(len(rgb))]
    cfg = FinetuneConfig(epochs=2, batch=32, hidden=64, instance_weight=0.3)
    model, losses = finetune(rgb, hists, views, texts, np.arange(len(rgb)), labels, np.arange(96), cfg,
                             progress=False)
    plain = finetune(rgb, hists, views, texts, np.arange(len(rgb)), labels, np.arange(96),
                     FinetuneConfig(epochs=2, batch=32, hidden=64), progress=False)[1]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert losses[0] > plain[0]  # the instance term adds to the loss: it is really there


def _words_rank_photos_only(tmp_path, csv, data_dir, model) -> None:
    """Words against photos only: each photo's score is its cosine plus the named attributes'
    log evidence plus the borrowed words the query has, and nothing of the product's own text."""
    from conftest import cli
    from shopsearch.engine import Engine
    from shopsearch.schema import Query

    idx = tmp_path / "idx"
    cli("ingest", csv, "--images", data_dir, "--index", idx, "--model", model, "-q")
    rows = fashion_rows(240, lambda r: int(r["id"]) % 5 != 0)
    q = Query(text=rows[3]["productDisplayName"], fields=["image"], page_size=50, facets=False)
    on = Engine(idx, settings=Settings(image_model=model)).search(q)
    off = Engine(idx, settings=Settings(image_model=model, photo_words=0.0)).search(q)
    assert on.hits and any(h.parts.get("words", 0) > 0 for h in on.hits)
    for h in on.hits:
        assert h.parts["image"] == pytest.approx(h.parts["image_sim"], abs=1e-6)  # a cosine, not a rank
        assert h.score == pytest.approx(h.parts["image"] + h.parts.get("attributes", 0) + h.parts.get("words", 0),
                                        abs=1e-5)
    assert all("words" not in h.parts for h in off.hits)
    before = {h.id: h.score for h in off.hits}
    for h in on.hits:
        if h.id in before:
            assert h.score - before[h.id] == pytest.approx(h.parts.get("words", 0.0), abs=1e-5)
