"""The photo trunk: the exported graph (normalisation and pooling inside), the int8
trunk calibrated on catalogue photos, and the colour histogram's fast path."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import fashion_rows
from shopsearch.encoders.photo import (
    HISTOGRAMS, HIST_DIM, HIST_LEVELS, HSV_DIM, colour_histogram, histogram, hsv_histogram, normalise, pixels, pool,
)
from shopsearch.encoders.trunk import Trunk
from shopsearch.settings import Settings
from shopsearch.training.export import effnet, quantize_trunk, trunk_key


@pytest.fixture(scope="module")
def photos(data_dir):
    return [str(data_dir / r["image_60x80"]) for r in fashion_rows(40)]


def l2n(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_the_exported_graph_matches_torch_with_numpy_pooling(photos):
    import torch

    trunk = Trunk(Settings())
    rgb = np.stack([trunk._prep(p)[0] for p in photos[:8]])
    with torch.no_grad():
        fmap = effnet().extract_features(torch.from_numpy(np.stack([normalise(a) for a in rgb]))).numpy()
    want = pool(fmap, "bands")
    got = trunk.run(rgb)
    assert got.shape == want.shape == (8, 1280 * 4)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)
    feats, hists = trunk.features(photos[:8], "avg")  # "avg" is the global block alone
    np.testing.assert_allclose(feats, want[:, :1280], rtol=1e-3, atol=1e-3)
    assert hists.shape == (8, HIST_DIM)


def test_features_do_not_depend_on_the_batch_and_workers_do_not_spin(photos):
    """Small batches with the decode pipeline are the fast setting; they must give the
    same numbers as one big batch (training caches were computed at another size)."""
    small, big = Trunk(Settings(encode_batch=3)), Trunk(Settings(encode_batch=64))
    a, ha = small.features(photos[:11], "bands")
    b, hb = big.features(photos[:11], "bands")
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ha, hb)
    spinning = "session.intra_op.allow_spinning"
    assert small.session.get_session_options().get_session_config_entry(spinning) == "0"
    with pytest.raises(RuntimeError):  # never set: onnxruntime's default, spinning workers
        Trunk(Settings(), spin=True).session.get_session_options().get_session_config_entry(spinning)


def test_an_int8_trunk_stays_close_to_fp32_and_has_its_own_cache_key(photos):
    s = Settings()
    calib = photos[:32]
    path, key = quantize_trunk(calib, s)
    assert quantize_trunk(calib, s) == (path, key) == (path, trunk_key(calib, s))  # cached by its calibration photos
    assert trunk_key(calib, s) != trunk_key(photos[1:33], s)
    with pytest.raises(ValueError):
        Trunk(s, path)  # without a key its features would land in the fp32 trunk's cache
    fp32, int8 = Trunk(s), Trunk(s, path, f"int8-{key}")
    assert fp32.key == "" and int8.key.startswith("int8-")
    a, _ = fp32.features(photos[32:], "avg")
    b, _ = int8.features(photos[32:], "avg")
    cos = (l2n(a) * l2n(b)).sum(1)
    assert cos.min() > 0.93 and cos.mean() > 0.97, cos
    assert not np.allclose(a, b)  # it is really another network


def reference_histogram(arr: np.ndarray) -> np.ndarray:
    """The plain integer version the lookup tables replace."""
    px = arr.reshape(-1, 3)
    fg = ~(px > 224).all(axis=1)
    if fg.mean() < 0.05:
        fg[:] = True
    q = (px[fg].astype(np.int32) * HIST_LEVELS) // 256
    h = np.bincount(q[:, 0] * 25 + q[:, 1] * 5 + q[:, 2], minlength=HIST_DIM).astype(np.float32)
    return np.sqrt(h / max(h.sum(), 1.0))


def test_colour_histogram_equals_the_plain_version(photos):
    arrs = [pixels(p, (144, 192)) for p in photos[:10]]
    arrs.append(np.full((192, 144, 3), 255, np.uint8))  # all background: every pixel counts
    arrs.append(np.asarray(Image.new("RGB", (144, 192), (200, 10, 10))))
    rng = np.random.default_rng(0)
    arrs.append(rng.integers(0, 256, (192, 144, 3), dtype=np.uint8))
    for a in arrs:
        np.testing.assert_allclose(colour_histogram(a), reference_histogram(a), atol=1e-7)
    assert abs(np.linalg.norm(colour_histogram(arrs[-2])) - 1) < 1e-6


def test_hsv_histogram_separates_dark_shades_and_greys():
    def hsv_of(rgb):
        return hsv_histogram(np.asarray(Image.new("RGB", (144, 192), rgb)))

    black, navy, charcoal, brown = (hsv_of(c) for c in ((15, 15, 18), (20, 30, 80), (60, 60, 62), (70, 40, 20)))
    for h in (black, navy, charcoal, brown):
        assert h.shape == (HSV_DIM,) and abs(np.linalg.norm(h) - 1) < 1e-6 and np.count_nonzero(h) == 1
    assert len({int(np.argmax(h)) for h in (black, navy, charcoal, brown)}) == 4  # one RGB-cube bin or two, here four
    grey_bins = range(HSV_DIM - 6, HSV_DIM)
    assert int(np.argmax(black)) in grey_bins and int(np.argmax(charcoal)) in grey_bins
    assert int(np.argmax(navy)) not in grey_bins and int(np.argmax(brown)) not in grey_bins
    # the background is left out, as in the RGB histogram
    arr = np.full((192, 144, 3), 255, np.uint8)
    arr[50:150, 40:100] = (200, 10, 10)
    np.testing.assert_allclose(hsv_histogram(arr), hsv_of((200, 10, 10)), atol=1e-6)
    both = histogram(arr, "rgb+hsv")
    assert both.shape == (HISTOGRAMS["rgb+hsv"],) == (HIST_DIM + HSV_DIM,)
    np.testing.assert_allclose(both[:HIST_DIM], colour_histogram(arr))
    np.testing.assert_allclose(both[HIST_DIM:], hsv_histogram(arr))  # one mask shared, same numbers
    with pytest.raises(ValueError, match="unknown colour histogram"):
        histogram(arr, "lab")
