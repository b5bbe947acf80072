"""Tokens for BM25: lower-cased words, jieba segmentation for Chinese, a light
English stemmer so "shoe"/"shoes" and "t-shirt"/"tshirts" meet."""

from __future__ import annotations

import logging
import re
from functools import lru_cache

log = logging.getLogger(__name__)

_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*|[\u3400-\u9fff]+")
STOP = frozenset(
    "a an and the of for with in on to by at from or is are this that it its as be me show i want my "
    "some any please find look looking".split()
)


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


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


def tokenize(text: str) -> list[str]:
    text = (text or "").lower()
    out: list[str] = []
    for m in _WORD.finditer(text):
        tok = m.group(0)
        if _CJK.match(tok):
            out.extend(t for t in _jieba().lcut(tok) if t.strip())
        elif tok not in STOP:
            out.append(stem(tok))
    return out
