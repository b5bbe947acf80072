"""Text shown in a clip (brand names, labels) read with RapidOCR, whose Chinese and
English ONNX models ship in the `rapidocr-onnxruntime` wheel. Off by default:
on catalogue clips it did not help (bench/video.py)."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)
_lock = threading.Lock()


@lru_cache(maxsize=1)
def reader():
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def read_text(frames: list[Image.Image], max_frames: int = 2, min_score: float = 0.8) -> str:
    """Confident text from the first and middle frames, in reading order."""
    picks = [frames[0]] + ([frames[len(frames) // 2]] if len(frames) > 2 and max_frames > 1 else [])
    words: list[str] = []
    with _lock:
        for f in picks:
            result, _ = reader()(np.asarray(f.convert("RGB")))
            for _box, text, score in result or []:
                if float(score) >= min_score and len(text.strip()) >= 2 and text.strip() not in words:
                    words.append(text.strip())
    return " ".join(words)
