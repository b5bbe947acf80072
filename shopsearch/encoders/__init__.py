"""Encoders turn text and photos into vectors, at query and ingest time (serving only:
training lives in `shopsearch.training`, and nothing here imports torch).

`base.Encoder` is the one interface and `factory.load_encoder` picks an encoder pair
from settings: `text.MiniLMText`, the frozen text tower, with `image.ImageTower`, the
catalogue-trained image tower (its trunk in `trunk.py`, its visual space in
`visual.py`, its caption memory in `memory.py`), or `clip.OnnxClip` for any CLIP-style
ONNX pair a user has on disk. `photo.py` reads photos (pixels, colour histograms),
`pca.py` holds the one PCA of trunk features, `runtime.py` the onnxruntime sessions
and the exported ONNX files.
"""

from shopsearch.encoders.base import Encoder
from shopsearch.encoders.factory import load_encoder

__all__ = ["Encoder", "load_encoder"]
