"""The one tokenizer, for BM25 at ingest and at query time and for the query parser's
Chinese segmentation: lower-cased words, a light English stemmer so "shoe"/"shoes" and
"t-shirt"/"tshirts" meet, and jieba for Chinese with an explicit dictionary.

The dictionary is jieba's own plus the query tables' Chinese words, loaded into one
private jieba instance the same way in every process, before its first use: the same
title always gives the same tokens, whatever the process did before (a fresh process,
after parsing queries, after building a vocabulary). Its id is recorded in the index
(`check_tokenizer`), so an index is never searched with tokens it was not built with."""

from __future__ import annotations

import hashlib
import logging
import re
from functools import lru_cache
from typing import Iterable

from shopsearch.query.tables import zh_table

log = logging.getLogger(__name__)

_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*|[\u3400-\u9fff]+")
STOP = frozenset(
    "a an and the of for with in on to by at from or is are this that it its as be me show i want my "
    "some any please find look looking".split()
)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Plural and possessive folding; deliberately tiny and predictable."""
    w = word.replace("-", "").replace("'", "")
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith(("ches", "shes", "sses", "xes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


class Tokenizer:
    """jieba with an explicit dictionary (its default one plus `words`), private to this
    object: nothing else in the process can change how it segments."""

    def __init__(self, words: Iterable[str]) -> None:
        import jieba

        self.words = sorted({w for w in words if len(w) >= 2 and _CJK.search(w)})
        digest = hashlib.sha1("\n".join(self.words).encode()).hexdigest()[:10]
        self.id = f"jieba-{jieba.__version__}+{len(self.words)}w-{digest}"
        jieba.setLogLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        for w in self.words:
            self._jieba.add_word(w, freq=100000)

    def segment(self, run: str) -> list[str]:
        """A Chinese run in words (no HMM: new words come from the dictionary)."""
        return [t for t in self._jieba.lcut(run, HMM=False) if t.strip()]

    def tokens(self, text: str) -> list[str]:
        """BM25 tokens: stemmed English words without stop words, segmented Chinese."""
        out: list[str] = []
        for m in _WORD.finditer((text or "").lower()):
            tok = m.group(0)
            if _CJK.match(tok):
                out.extend(self.segment(tok))
            elif tok not in STOP:
                out.append(stem(tok))
        return out


@lru_cache(maxsize=1)
def tokenizer() -> Tokenizer:
    """The process's tokenizer: the query tables' Chinese words in jieba's dictionary."""
    return Tokenizer(zh_table())


def tokenize(text: str) -> list[str]:
    return tokenizer().tokens(text)
