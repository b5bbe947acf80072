"""Another model plugs in by configuration: a CLIP-style folder (clip.json, text
and vision ONNX, tokenizer.json) replaces both towers for ingest and search.

Real CLIP weights cannot be installed here, so the test exports a small
CLIP-shaped pair of its own with torch; the loading, tokenising, preprocessing
and search path is the one a user's open_clip/SigLIP export goes through."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import cli, fashion_rows, write_csv


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from shopsearch.encoders.runtime import minilm_dir

    d = tmp_path_factory.mktemp("clip")
    torch.manual_seed(0)

    class Text(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(31000, 64)

        def forward(self, input_ids, attention_mask):
            m = attention_mask.unsqueeze(-1).float()
            return (self.emb(input_ids) * m).sum(1) / m.sum(1).clamp(min=1)

    class Vision(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 64, 8, stride=8)

        def forward(self, pixel_values):
            return self.conv(pixel_values).mean((2, 3))

    ids = torch.ones(2, 77, dtype=torch.long)
    torch.onnx.export(Text(), (ids, ids), str(d / "text.onnx"), input_names=["input_ids", "attention_mask"],
                      output_names=["emb"], dynamic_axes={"input_ids": {0: "b"}, "attention_mask": {0: "b"}, "emb": {0: "b"}},
                      dynamo=False)
    torch.onnx.export(Vision(), torch.randn(2, 3, 64, 64), str(d / "vision.onnx"), input_names=["pixel_values"],
                      output_names=["emb"], dynamic_axes={"pixel_values": {0: "b"}, "emb": {0: "b"}}, dynamo=False)
    shutil.copy(minilm_dir() / "tokenizer.json", d / "tokenizer.json")
    (d / "clip.json").write_text(json.dumps({"id": "test-clip", "image_size": [64, 64], "context_length": 77}))
    return d


def test_clip_folder_serves_both_towers(tmp_path, clip_folder, data_dir):
    rows = fashion_rows(40)
    cat = write_csv(tmp_path / "c.csv", rows)
    idx = tmp_path / "idx"
    cli("ingest", cat, "--images", data_dir, "--index", idx, "--model", clip_folder, "-q")
    st = json.loads(cli("stats", "--index", idx, "--json").stdout)
    assert st["encoder"] == "test-clip" and st["products"] == 40
    photo = data_dir / rows[5]["image_hr"]
    out = json.loads(cli("search", "--image", photo, "--index", idx, "--json", "-k", "3").stdout)
    assert out["hits"][0]["id"] == rows[5]["id"]  # the same photo embeds the same way through the plug-in
    out = json.loads(cli("search", rows[9]["productDisplayName"], "--index", idx, "--json", "-k", "3").stdout)
    assert out["hits"][0]["id"] == rows[9]["id"]
