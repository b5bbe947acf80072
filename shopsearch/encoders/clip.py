"""Plug-in for a CLIP-style model a user has on disk (e.g. an open_clip or SigLIP
export): a folder with `clip.json`, a text ONNX, a vision ONNX and a
`tokenizer.json`. Selected by pointing `SHOPSEARCH_IMAGE_MODEL` (or `--model`)
at that folder; both towers then come from it.

clip.json:
    {"id": "my-clip", "text_model": "text.onnx", "vision_model": "vision.onnx",
     "tokenizer": "tokenizer.json", "image_size": [224, 224],
     "mean": [0.481, 0.458, 0.408], "std": [0.269, 0.261, 0.276],
     "context_length": 77, "pad_id": 0}
The text model takes `input_ids` (and `attention_mask` if it declares one) and
returns one embedding per row; the vision model takes `pixel_values` (N,3,H,W).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
from tokenizers import Tokenizer

from shopsearch.encoders.base import ImageLike, l2n
from shopsearch.encoders.photo import open_image
from shopsearch.encoders.runtime import ort_session


def is_clip_folder(path: Path) -> bool:
    return (Path(path) / "clip.json").exists()


class OnnxClip:
    def __init__(self, folder: Path, threads: int = 2) -> None:
        folder = Path(folder)
        cfg = json.loads((folder / "clip.json").read_text())
        self.cfg = cfg
        self.folder = folder
        self.id = cfg.get("id", folder.name)
        self.text_sess = ort_session(folder / cfg.get("text_model", "text.onnx"), threads)
        self.vision_sess = ort_session(folder / cfg.get("vision_model", "vision.onnx"), threads)
        self.tok = Tokenizer.from_file(str(folder / cfg.get("tokenizer", "tokenizer.json")))
        ctx = int(cfg.get("context_length", 77))
        self.tok.enable_truncation(ctx)
        self.tok.enable_padding(pad_id=int(cfg.get("pad_id", 0)), length=ctx if cfg.get("pad_to_context", True) else None)
        self.size = tuple(cfg.get("image_size", [224, 224]))
        self.mean = np.array(cfg.get("mean", [0.481, 0.458, 0.408]), np.float32)[:, None, None]
        self.std = np.array(cfg.get("std", [0.269, 0.261, 0.276]), np.float32)[:, None, None]
        self.text_inputs = [i.name for i in self.text_sess.get_inputs()]
        self.vision_input = self.vision_sess.get_inputs()[0].name
        self.dim = int(self.text_sess.get_outputs()[0].shape[-1] or 0)
        self.visual_dim = self.dim

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        enc = self.tok.encode_batch([t or "" for t in texts])
        feeds = {"input_ids": np.array([e.ids for e in enc], np.int64)}
        if "attention_mask" in self.text_inputs:
            feeds["attention_mask"] = np.array([e.attention_mask for e in enc], np.int64)
        feeds = {k: v for k, v in feeds.items() if k in self.text_inputs}
        return l2n(self.text_sess.run(None, feeds)[0])

    def encode_image(self, images: Sequence[ImageLike]) -> np.ndarray:
        pix = np.stack([
            (np.asarray(open_image(im, self.size), np.float32).transpose(2, 0, 1) / 255.0 - self.mean) / self.std
            for im in images
        ])
        return l2n(self.vision_sess.run(None, {self.vision_input: pix})[0])

    def encode_visual(self, images: Sequence[ImageLike]) -> np.ndarray:
        return self.encode_image(images)

    def encode_image_both(self, images: Sequence[ImageLike]) -> tuple[np.ndarray, np.ndarray]:
        v = self.encode_image(images)
        return v, v
