"""Query understanding: turn "mens crimson tee under 20" or "不要运动款的黑色鞋" into
catalogue facets (type, colour family, gender, usage), a price range, negations and
an English rendering for lexical and dense search.

Rule-based and fast (well under a millisecond after the vocabulary is built): the
engine uses the result as bounded boosts, or as filters in strict mode, so a wrong
guess costs little while a right one fixes what embeddings miss (colour, gender).
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from shopsearch.query import tables as T
from shopsearch.query.concepts import EmbeddingMatcher, Mapping
from shopsearch.query.vocab import (BOUNDARY, CJK, Lexicon, Vocabulary, key_of, prep, segment_zh, zh_fmm,
                                    zh_latin_replace, zh_table)
from shopsearch.query.wordnet import english_words

log = logging.getLogger(__name__)


@dataclass
class Intent:
    """What a query asks for, in the catalogue's own values."""

    text: str  # the query as typed
    normalized: str = ""  # English rendering for lexical/dense search (no negated parts, no prices)
    types: list[str] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    colour_words: list[str] = field(default_factory=list)  # colour words as found (English for Chinese input)
    genders: list[str] = field(default_factory=list)
    usages: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)  # set by the engine for photo-only matching (brand head labels)
    price_min: float | None = None
    price_max: float | None = None
    negated_types: list[str] = field(default_factory=list)
    negated_colours: list[str] = field(default_factory=list)
    negated_usages: list[str] = field(default_factory=list)
    negated_terms: list[str] = field(default_factory=list)  # other negated words, English
    corrections: dict[str, str] = field(default_factory=dict)  # typo -> fix
    language: str = "en"
    # mappings below the confidence gate: kind -> value -> confidence; they boost, never filter
    weak: dict[str, dict[str, float]] = field(default_factory=dict)
    # every word mapped onto a catalogue value by a synonym, WordNet, the titles or the text
    # model: what it became, how sure, and why (for the why panel)
    mappings: list[dict[str, Any]] = field(default_factory=list)
    expansions: list[str] = field(default_factory=list)  # catalogue words for the lexical retriever
    synonyms: list[str] = field(default_factory=list)  # the operator's synonyms of the query's words
    cheaper: bool = False  # "cheaper", "less expensive": below the price of what a photo shows
    photo: bool = False  # the words modify a query photo (search/plan.py, photo_and_words)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def is_empty(self) -> bool:
        """True when nothing structured was understood (nothing to boost or filter on)."""
        return not (self.types or self.colours or self.genders or self.usages or self.weak or self.negated_types
                    or self.negated_colours or self.negated_usages or self.negated_terms
                    or self.price_min is not None or self.price_max is not None)


# --- prices ------------------------------------------------------------------------------
_CUR = r"(?:us\$|[$¥€£₹]|rs\.?|inr|usd|rmb|cny|eur|gbp)"
_UNIT = r"(?:\s*(?:元|块钱|块|rmb|yuan|dollars?|bucks|usd|euros?|eur|pounds?|gbp|rupees?|rs|inr|[¥$€£]))?"


def _amt(name: str) -> str:
    return rf"{_CUR}?\s*(?P<{name}>\d{{1,3}}(?:,\d{{3}})+|\d+(?:\.\d+)?)\s*(?P<{name}k>k\b)?{_UNIT}"


_MAX_WORDS = (r"(?:\b(?:under|below|less than|lower than|cheaper than|up to|upto|at most|max(?:imum)?|within|"
              r"no more than|not more than|not over)\b|<=?|≤|低于|少于|不超过|不到|不高于|小于|以内)")
_MIN_WORDS = (r"(?:\b(?:over|above|more than|greater than|higher than|at least|min(?:imum)?|starting at|from)\b"
              r"|>=?|≥|高于|超过|大于|不低于|至少)")
_PRICE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\b(?:between|from)\s*{_amt('a')}\s*(?:and|to|-|–|~)\s*{_amt('b')}"), "range"),
    (re.compile(rf"{_amt('a')}\s*(?:-|–|~|\bto\b|到|至)\s*{_amt('b')}(?:\s*(?:之间|以内))?"), "range"),
    (re.compile(rf"{_MAX_WORDS}\s*{_amt('b')}"), "max"),
    (re.compile(rf"{_amt('b')}\s*(?:及以下|以下|以内|之内|内)"), "max"),
    (re.compile(rf"{_MIN_WORDS}\s*{_amt('a')}"), "min"),
    (re.compile(rf"{_amt('a')}\s*(?:及以上|以上|起)"), "min"),
]
_SIZE_BEFORE = re.compile(r"\b(?:size|sizes|sz|uk|us|eu|age|ages|aged|years?|yrs|months?|pack|inch|inches|cm|mm)\s*$")
_CURRENCY = re.compile(r"[$¥€£₹元块]|rs|inr|usd|rmb|cny|eur|gbp|dollar|yuan|buck|euro|pound|rupee")
_NUMWORD = "|".join(sorted(T.NUMBER_WORDS, key=len, reverse=True))
_NUMWORD_AFTER = re.compile(
    rf"(\b(?:under|below|less than|cheaper than|up to|at most|over|above|more than|at least|between|from|"
    rf"within|and|to)\s+)((?:{_NUMWORD})(?:(?:(?:(?<=hundred)|(?<=thousand))[\s-]+and)?[\s-]+(?:{_NUMWORD}))*)\b")


def _words_to_number(words: str) -> int:
    total = cur = 0
    for w in re.split(r"[\s-]+", words):
        if w == "and" or not w:
            continue
        n = T.NUMBER_WORDS[w]
        if n == 100:
            cur = max(cur, 1) * 100
        elif n == 1000:
            total += max(cur, 1) * 1000
            cur = 0
        else:
            cur += n
    return total + cur


def _num(m: re.Match[str], name: str) -> float:
    v = float(m.group(name).replace(",", ""))
    return v * 1000 if m.group(name + "k") else v


def extract_price(s: str) -> tuple[str, float | None, float | None]:
    """Find price phrases, return the text without them and the bounds."""
    lo = hi = None
    if any(w in s for w in ("under", "below", "less", "over", "above", "more", "between", "least", "most",
                            "from", "within", "to")):
        s = _NUMWORD_AFTER.sub(lambda m: m.group(1) + str(_words_to_number(m.group(2))), s)
    for pat, kind in _PRICE_PATTERNS:
        pos = 0
        while True:
            m = pat.search(s, pos)
            if not m:
                break
            if kind == "range" and _SIZE_BEFORE.search(s[:m.start()]) and not _CURRENCY.search(m.group(0)):
                pos = m.end()  # "size 8-10" is not a price
                continue
            if kind in ("range", "min"):
                lo = _num(m, "a")
            if kind in ("range", "max"):
                hi = _num(m, "b")
            s = s[:m.start()] + " " + s[m.end():]
            pos = m.start()
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    return s, lo, hi


_CHEAPER = re.compile(r"\b(?:cheaper|less expensive|lower price[ds]?|more affordable|(?:a )?bit cheaper|便宜(?:点|一点|些)?)\b")

# --- tokens ---------------------------------------------------------------------------------
_NEG_DASH = re.compile(r"(?:(?<=\s)|^)-(?=[a-z\u3400-\u9fff])")
_NON = re.compile(r"\bnon-(?=[a-z])")
_TOKEN = re.compile(r"¬|[a-z0-9]+(?:\.[0-9]+)?|[\u3400-\u9fff]+|[,、/&]")
NEG = "¬"


def _tokens(s: str) -> list[tuple[str, bool]]:
    """(token, came_from_chinese). Chinese runs are segmented with jieba, matched
    longest-first over the Chinese table and replaced by their English words."""
    s = s.replace("w/o", " without ")
    s = _NON.sub(f" {NEG} ", _NEG_DASH.sub(f"{NEG} ", s))
    s = s.replace("-", " ")
    zh = zh_table()
    if CJK.search(s):
        s = zh_latin_replace(s)
    out: list[tuple[str, bool]] = []
    for m in _TOKEN.finditer(s):
        tok = m.group(0)
        if not CJK.match(tok):
            out.append((tok, False))
            continue
        segs = segment_zh(tok)
        i = 0
        while i < len(segs):
            for j in range(min(len(segs), i + 4), i, -1):
                k = "".join(segs[i:j])
                if k in zh:
                    _emit(out, [k])
                    i = j
                    break
            else:
                pieces = zh_fmm(segs[i])
                if pieces:
                    _emit(out, pieces)
                else:
                    out.append((segs[i], True))
                i += 1
    return out


def _emit(out: list[tuple[str, bool]], zh_keys: list[str]) -> None:
    zh = zh_table()
    for k in zh_keys:
        en = zh[k]
        if not en:
            out.append((BOUNDARY, True))
        else:
            out.extend((w, True) for w in en.split())


# --- parsing ---------------------------------------------------------------------------------
def parse(text: str, vocab: Vocabulary, matcher: "EmbeddingMatcher | None" = None, strong: float = 0.75) -> Intent:
    """Parse one query against a catalogue vocabulary. `matcher` maps words no table,
    title or WordNet entry knows by the text model; a mapping below `strong` confidence
    goes to `intent.weak` (a boost in proportion, never a filter)."""
    raw = text or ""
    s = prep(raw)
    intent = Intent(text=raw, language="zh" if CJK.search(s) else "en")
    s, intent.price_min, intent.price_max = extract_price(s)
    if _CHEAPER.search(s):
        intent.cheaper = True
        s = _CHEAPER.sub(" ", s)
    toks = _tokens(s)
    lex = vocab.lexicon

    # a word split by a stray space ("ear rings", "kur tas"): joined when the halves mean
    # nothing apart and the whole is a catalogue word
    toks = _join_split_words(toks, vocab)
    # typo correction of unknown English words (a real English word is never a typo)
    english = english_words()
    for i, (tok, zh) in enumerate(toks):
        if not zh and len(tok) >= 4 and tok.isalpha() and tok not in english:
            fix = vocab.correct(tok)
            if fix:
                intent.corrections[tok] = fix
                toks[i] = (fix, False)

    words = [t for t, _ in toks]
    from_zh = [z for _, z in toks]
    n = len(words)
    rendered: list[str] = []
    unknown: list[str] = []  # content words no source knows (for the text model)
    pending = False  # a negation marker is waiting for its object

    def match(i: int) -> tuple[int, str] | None:
        for j in range(min(n, i + lex.max_len), i, -1):
            if any(w == BOUNDARY or w == NEG for w in words[i:j]):
                continue
            key = " ".join(words[i:j])
            if key in lex.entries:
                return j, key
        return None

    i = 0
    while i < n:
        w = words[i]
        if w == BOUNDARY:
            i += 1
            continue
        if w == NEG or w in T.NEGATION_EN:
            pending = True
            i += 1
            continue
        if pending and w in T.NEG_FILLERS:
            i += 1
            continue
        hit = match(i)
        if hit:
            j, key = hit
            negate = pending
            pending = False
            nxt = match(j) if j < n else None
            if (not negate and "type" in lex.entries[key] and len(lex.entries[key]["type"]) <= 2 and nxt
                    and len(lex.entries[nxt[1]].get("type", ())) >= 3 and len(lex.entries[nxt[1]]) == 1):
                # "capri pants", "tote bag": the generic head says what kind, the word before it which one
                _apply(intent, lex, key, " ".join(words[i:nxt[0]]), False, all(from_zh[i:nxt[0]]), rendered,
                       vocab, strong)
                rendered.append(" ".join(words[j:nxt[0]]))
                i = nxt[0]
                continue
            _apply(intent, lex, key, " ".join(words[i:j]), negate, all(from_zh[i:j]), rendered, vocab, strong)
            i = j
            if negate:
                pending = _continues(words, i, match, set(lex.entries[key]), lex)
                if pending:
                    i += 1
            continue
        if pending:
            if w not in T.STOPWORDS_EN and w not in T.OR_WORDS and w not in T.AND_WORDS:
                intent.negated_terms.append(w)
                pending = _continues(words, i + 1, match, {"term"}, lex)
                i += 2 if pending else 1
            else:
                i += 1
            continue
        if w not in T.OR_WORDS and w not in ("&",):
            rendered.append(w)
            if _unknown(w, lex, vocab, from_zh[i]):
                unknown.append(w)
        i += 1

    if matcher is not None and unknown:
        for m in matcher.match(unknown):
            _apply_mapping(intent, m, strong)
    _finish(intent, rendered)
    return intent


def _join_split_words(toks: list[tuple[str, bool]], vocab: Vocabulary) -> list[tuple[str, bool]]:
    lex = vocab.lexicon
    out: list[tuple[str, bool]] = []
    i = 0
    while i < len(toks):
        if i + 1 < len(toks) and not toks[i][1] and not toks[i + 1][1]:
            a, b = toks[i][0], toks[i + 1][0]
            whole = a + b
            known = lambda w: lex.known(w) or vocab.words.get(w, 0) >= 2  # noqa: E731
            if (a.isalpha() and b.isalpha() and (whole in lex.entries or vocab.words.get(whole, 0) >= 5)
                    and not (known(a) and known(b))):
                out.append((whole, False))
                i += 2
                continue
        out.append(toks[i])
        i += 1
    return out


def _unknown(w: str, lex: Lexicon, vocab: Vocabulary, zh: bool) -> bool:
    """A content word neither the lexicon nor any title uses: the text model's to map."""
    return (not zh and w.isalpha() and len(w) >= 3 and w not in lex.tokens and w not in T.STOPWORDS_EN
            and w not in T.COMMON_WORDS and vocab.words.get(w, 0) == 0)


def _apply_mapping(intent: Intent, m: "Mapping", strong: float) -> None:
    """A mapped word's values join the intent: as attributes when sure, as weak boosts otherwise."""
    target = {"type": intent.types, "colour": intent.colours, "gender": intent.genders, "usage": intent.usages}
    if m.confidence >= strong:
        target[m.kind] += list(m.values)
        if m.kind == "colour":
            intent.colour_words.append(m.surface)
    else:
        slot = intent.weak.setdefault(m.kind, {})
        for v in m.values:
            slot[v] = max(slot.get(v, 0.0), m.confidence)
    intent.mappings.append(dict(m.to_dict(), gate="attribute" if m.confidence >= strong else "weak boost"))
    if m.kind == "type":  # the catalogue's word for the lexical retriever ("parka" -> jackets); a colour
        intent.expansions += [key_of(v) for v in m.values[:2]]  # is the boost's job, not BM25's


def _continues(words: list[str], i: int, match: Callable[[int], tuple[int, str] | None], kinds: set[str],
               lex: Lexicon) -> bool:
    """After a negated concept, does "or X" / "and X" (same kind) carry the negation on?"""
    if i >= len(words):
        return False
    w = words[i]
    if w in T.OR_WORDS:
        return True
    if w in T.AND_WORDS and i + 1 < len(words):
        nxt = match(i + 1)
        if nxt:
            return bool(kinds & set(lex.entries[nxt[1]]))
        return "term" in kinds and words[i + 1] not in T.STOPWORDS_EN
    return False


def _apply(intent: Intent, lex: Lexicon, key: str, surface: str, negate: bool, zh: bool, rendered: list[str],
           vocab: Vocabulary, strong: float = 0.75) -> None:
    e = lex.entries[key]
    if negate and key in lex.mapped:  # "without straw": the word itself is what to avoid; the values
        intent.negated_terms.append(surface)  # it maps to only when sure
        e = {k: v for k, v in e.items() if lex.mapped[key].get(k, (1.0,))[0] >= strong}
        if not e:
            return
    if not negate and key in lex.mapped:  # a word from the concept map: gated by its confidence
        for kind, values in e.items():
            conf, source, via = lex.mapped[key].get(kind, (1.0, "table", ""))
            _apply_mapping(intent, Mapping(surface, kind, tuple(values), conf, source, via), strong)
        rendered.append(surface)
        return
    if not negate and not zh and key not in lex.value_keys:  # a curated synonym: say so
        for kind, values in e.items():
            intent.mappings.append({"word": surface, "kind": kind, "values": list(values), "confidence": 1.0,
                                    "source": "table", "via": "curated synonym", "gate": "attribute"})
    for kind, values in e.items():
        if negate:
            if kind == "type":
                intent.negated_types += values
            elif kind == "colour":
                intent.negated_colours += values
            elif kind == "usage":
                intent.negated_usages += values
            else:
                intent.negated_terms.append(lex.canon.get(key, key))
            continue
        if kind == "type":
            intent.types += values
        elif kind == "colour":
            intent.colours += values
            intent.colour_words.append(surface)
        elif kind == "gender":
            intent.genders += values
        else:
            intent.usages += values
    if negate:
        return
    rendered.append(_render(key, e, zh, lex, vocab))


def _render(key: str, e: dict[str, tuple[str, ...]], zh: bool, lex: Lexicon, vocab: Vocabulary) -> str:
    """English words for a concept: catalogue spellings stay, synonyms become the
    catalogue's word ("crimson" -> "red", "t shirt" -> "tshirts", "mens" -> "men"),
    except single type words the titles use often ("sneakers" stays)."""
    if "gender" in e:
        return lex.canon.get(key, key)
    if zh or key in lex.value_keys:
        return key
    if "type" in e and " " not in key and vocab.words.get(key, 0) >= 20:
        return key
    return lex.canon.get(key, key)


def _dedupe(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(xs))


def _finish(intent: Intent, rendered: list[str]) -> None:
    intent.negated_types = _dedupe(intent.negated_types)
    intent.negated_colours = _dedupe(intent.negated_colours)
    intent.negated_usages = _dedupe(intent.negated_usages)
    intent.negated_terms = _dedupe(intent.negated_terms)
    intent.types = [t for t in _dedupe(intent.types) if t not in intent.negated_types]
    intent.colours = [c for c in _dedupe(intent.colours) if c not in intent.negated_colours]
    intent.usages = [u for u in _dedupe(intent.usages) if u not in intent.negated_usages]
    intent.genders = _dedupe(intent.genders)
    intent.expansions = _dedupe(intent.expansions)
    for kind, have in (("type", intent.types), ("colour", intent.colours), ("gender", intent.genders)):
        if kind in intent.weak:  # a sure mapping of the same kind makes the weak one moot
            intent.weak[kind] = {v: c for v, c in intent.weak[kind].items() if v not in have}
            if have or not intent.weak[kind]:
                intent.weak.pop(kind)
    intent.colour_words = _dedupe(intent.colour_words)
    intent.normalized = " ".join(" ".join(rendered).split())
