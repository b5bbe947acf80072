"""Encoders turn text and photos into vectors.

`base.Encoder` is the one interface; `text.MiniLMText` is the frozen text tower,
`image.ImageTower` the catalogue-trained image tower, `clip.OnnxClip` plugs in any
CLIP-style ONNX pair a user has on disk. `load_encoder` picks one from settings.
"""

from shopsearch.encoders.base import Encoder, load_encoder

__all__ = ["Encoder", "load_encoder"]
