"""A word language model of the catalogue, for choosing among what the recogniser heard.

Spoken queries are short catalogue phrases ("women navy sandals"), so the catalogue's
own phrases are the best model of what a shopper says: a Witten-Bell smoothed word
bigram over the Vocabulary's frequent (gender colour type) phrases and value names,
backed off to unigrams of the title words. Built once per Vocabulary and cached.
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections import Counter
from typing import Any

from shopsearch.query.vocab import key_of, singular

log = logging.getLogger(__name__)

BOS, EOS, NUM = "<s>", "</s>", "<num>"
GENDERS = ("men", "women", "kids", "boys", "girls")


def tokens(words: list[str]) -> list[str]:
    """Words as the model counts them: "for men" is one token, so that a query ending in a
    gender ("black watch for men") does not make "men" alone look like a whole query."""
    out: list[str] = []
    for w in words:
        if out and out[-1] == "for" and w in GENDERS:
            out[-1] = f"for {w}"
        else:
            out.append(w)
    return out


class CatalogueLM:
    """log P(words) under a bigram of catalogue phrases, interpolated (Witten-Bell) with
    add-one unigrams of title words, phrase words and value names."""

    def __init__(self, unigrams: Counter[str], bigrams: Counter[tuple[str, str]]) -> None:
        self.unigrams = unigrams
        self.total = sum(unigrams.values())
        self.size = len(unigrams) + 1  # + one slot for every unseen word together
        self.bigrams = bigrams
        self.context: Counter[str] = Counter()
        self.followers: Counter[str] = Counter()
        for (a, _b), n in bigrams.items():
            self.context[a] += n
            self.followers[a] += 1

    @classmethod
    def from_vocabulary(cls, vocab: Any) -> "CatalogueLM":
        """Phrases count as often as products carry them, each also in the words a shopper
        says for it: the last word in singular ("men black watch"), the gender last
        ("black watch for men"), and a colour or type by one of its words when the
        catalogue's lexicon takes that word for it alone ("navy" for "navy blue",
        "perfume" for "perfume and body mist"). Value names add their words and inner bigrams (not as whole
        queries: "women" alone is not a likely query); title words add unigrams by
        document frequency."""
        uni: Counter[str] = Counter()
        bi: Counter[tuple[str, str]] = Counter()

        def sentence(words: list[str], n: int) -> None:
            words = tokens(words)
            seq = [BOS, *words, EOS]
            for a, b in zip(seq, seq[1:]):
                bi[(a, b)] += n
            uni.update({w: n for w in words})
            uni[EOS] += n

        short: dict[str, str] = {}  # "navy blue" -> "navy", "perfume and body mist" -> "perfume"
        entries = vocab.lexicon.entries
        for kind, table in (("colour", vocab.colours), ("type", vocab.types)):
            for value in table:
                k = key_of(value)
                for w in k.split()[:-1] if " " in k else ():
                    if tuple(entries.get(w, {}).get(kind, ())) == (value,):
                        short[k] = w
                        break
        for phrase, n in vocab.phrases:
            words = key_of(phrase).split()
            if not words:
                continue
            forms = {tuple(words)}
            text = " " + " ".join(words) + " "
            for long, one in short.items():
                if f" {long} " in text:
                    forms.add(tuple(text.replace(f" {long} ", f" {one} ").split()))
            for f in list(forms):
                forms.add(f[:-1] + (singular(f[-1]),))
            for f in list(forms):
                if len(f) > 1 and f[0] in GENDERS:
                    forms.add(f[1:] + ("for", f[0]))  # "black watch for men"
            for f in forms:
                sentence(list(f), n)
        for table in (vocab.types, vocab.colours, vocab.genders, vocab.usages):
            for value, n in table.items():
                words = key_of(value).split()
                uni.update({w: n for w in words})
                for a, b in zip(words, words[1:]):
                    bi[(a, b)] += n
        for w, n in vocab.words.items():
            if w.isascii() and w.isalpha():
                uni[w] += n
        uni[NUM] += max(1, sum(uni.values()) // 200)  # prices: about as common as a colour
        bi[(NUM, EOS)] += uni[NUM]  # ... and said last ("shoes under 50")
        return cls(uni, bi)

    def unigram(self, w: str) -> float:
        if w == EOS:  # the end is only likely where phrases end: backing off to it costs as a rare word
            return 1 / (self.total + self.size)
        return (self.unigrams.get(w, 0) + 1) / (self.total + self.size)

    def prob(self, prev: str, w: str) -> float:
        """P(w | prev), Witten-Bell: the more distinct followers a word has, the more
        weight the unigram gets after it."""
        c, t = self.context.get(prev, 0), self.followers.get(prev, 0)
        base = self.unigram(w)
        if c == 0:
            return base
        return (self.bigrams.get((prev, w), 0) + t * base) / (c + t)

    def logprob(self, words: list[str]) -> float:
        """Natural log probability of a whole query (digits as one number token)."""
        seq = [BOS] + tokens([NUM if w.isdigit() else w for w in words]) + [EOS]
        return sum(math.log(max(self.prob(a, b), 1e-12)) for a, b in zip(seq, seq[1:]))


_cache: dict[int, tuple[weakref.ref, CatalogueLM]] = {}
_cache_lock = threading.Lock()


def lm_for(vocab: Any) -> CatalogueLM:
    """The language model of this Vocabulary, built on first use and kept while it lives."""
    with _cache_lock:
        hit = _cache.get(id(vocab))
        if hit is not None and hit[0]() is vocab:
            return hit[1]
    lm = CatalogueLM.from_vocabulary(vocab)
    log.info("catalogue language model: %d words, %d bigrams", len(lm.unigrams), len(lm.bigrams))
    with _cache_lock:
        for k in [k for k, (ref, _) in _cache.items() if ref() is None]:
            del _cache[k]
        _cache[id(vocab)] = (weakref.ref(vocab), lm)
    return lm
