"""The query vocabulary: what this catalogue's types, colours, genders and words are.

Built once at ingest from the indexed products and stored in the index as JSON, so
query understanding adapts to any catalogue: the curated tables in `tables.py` only
add synonyms for values that exist here. Everything derived (the phrase lexicon,
the typo index, the completion list) is rebuilt lazily after loading.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, ClassVar, Iterable, Sequence

from shopsearch.index.lexical import tokenizer
from shopsearch.query import tables as T

log = logging.getLogger(__name__)

CJK = re.compile(r"[\u3400-\u9fff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_TEXT_WORD = re.compile(r"[a-z]+|[\u3400-\u9fff]+")
_APOS = re.compile(r"(?<=[a-z])['’`](?=[a-z])")
_KEY_JUNK = re.compile(r"[^a-z0-9\u3400-\u9fff ]+")
_HIER = re.compile(r"\s*(?:>|›|»)\s*")

KINDS = ("type", "colour", "gender", "usage")
BOUNDARY = "|"  # token that separates concepts (Chinese 的) and is never rendered


# --- small text helpers -------------------------------------------------------------
def prep(text: str) -> str:
    """NFKC, lower case, straight apostrophes removed inside words ("men's" -> "mens")."""
    s = unicodedata.normalize("NFKC", text or "").lower()
    return _APOS.sub("", s.replace("’", "'"))


def key_of(value: str) -> str:
    """Lookup key of a catalogue value or phrase: lower-case words separated by one space."""
    s = prep(value).replace("&", " and ")
    s = _KEY_JUNK.sub(" ", s.replace("-", " ").replace("_", " ").replace("/", " "))
    return " ".join(s.split())


def last_segment(value: str) -> str:
    """'Home & Kitchen > Furniture > Mattresses' -> 'Mattresses' (hierarchical categories)."""
    v = (value or "").strip()
    return _HIER.split(v)[-1].strip() if _HIER.search(v) else v


def singular(word: str) -> str:
    if word in T.PLURAL_ONLY or len(word) < 4:
        return word
    if word.endswith("shoes"):
        return word[:-1]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def plural(word: str) -> str:
    if word in T.PLURAL_ONLY or not word.isalpha():
        return word
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def variants(phrase: str) -> list[str]:
    """The phrase with its last word in singular and plural form."""
    if not phrase:
        return []
    head, _, last = phrase.rpartition(" ")
    pre = head + " " if head else ""
    out = [phrase]
    for w in (singular(last), plural(last)):
        v = pre + w
        if v not in out:
            out.append(v)
    return out


def is_non_value(v: str) -> bool:
    return key_of(v) in T.NON_VALUES


def osa(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment (Damerau) distance; returns limit + 1 once above limit."""
    if a == b:
        return 0
    la, lb = len(a), len(b)
    if abs(la - lb) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        best = i
        ai = a[i - 1]
        for j in range(1, lb + 1):
            cost = 0 if ai == b[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ai == b[j - 2] and a[i - 2] == b[j - 1]:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
            best = min(best, v)
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[lb] if prev[lb] <= limit else limit + 1


def _deletes(word: str, depth: int) -> set[str]:
    out = {word}
    frontier = {word}
    for _ in range(depth):
        nxt = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        out |= nxt
        frontier = nxt
    return out


def allowed_typos(word: str) -> int:
    """Edit budget by length, as Meilisearch/Typesense do: 1 for 4-7 letters, 2 for 8+."""
    n = len(word)
    return 0 if n < 4 else 1 if n <= 7 else 2


# --- Chinese ---------------------------------------------------------------------------
zh_table = T.zh_table  # Chinese word -> English phrase (the tokenizer's dictionary holds its words)


def segment_zh(run: str) -> list[str]:
    """jieba segmentation of one Chinese run, by the one tokenizer (index/lexical.py): its
    dictionary holds the Chinese table's words, so they segment whole."""
    return tokenizer().segment(run)


def zh_latin_replace(s: str) -> str:
    """Replace table keys that mix Latin and Chinese ("t恤") before splitting by script."""
    for k, en in _zh_latin_keys():
        if k in s:
            s = s.replace(k, f" {en} ")
    return s


@lru_cache(maxsize=1)
def _zh_latin_keys() -> list[tuple[str, str]]:
    keys = [(k, v) for k, v in zh_table().items() if CJK.search(k) and re.search(r"[a-z]", k)]
    return sorted(keys, key=lambda kv: -len(kv[0]))


def zh_fmm(token: str) -> list[str] | None:
    """Forward maximum match of a Chinese token over the table; None unless fully covered."""
    table = zh_table()
    maxlen = _zh_maxlen()
    out: list[str] = []
    i = 0
    while i < len(token):
        for j in range(min(len(token), i + maxlen), i, -1):
            if token[i:j] in table:
                out.append(token[i:j])
                i = j
                break
        else:
            return None
    return out


@lru_cache(maxsize=1)
def _zh_maxlen() -> int:
    return max(len(k) for k in zh_table())


# --- the derived lexicon ------------------------------------------------------------------
@dataclass
class Lexicon:
    """English phrase -> concepts, derived from a Vocabulary and the curated tables."""

    entries: dict[str, dict[str, tuple[str, ...]]]  # phrase -> kind -> catalogue values
    canon: dict[str, str]  # phrase -> English word(s) used when rendering the query
    value_keys: set[str]  # phrases that spell a catalogue value (or a colour family)
    tokens: set[str]  # every word that occurs in a phrase
    weights: dict[str, int]  # phrase -> number of products it covers
    max_len: int
    # phrases from the concept map (concepts.py): kind -> (confidence, source, why); table
    # and catalogue phrases are not listed here (confidence 1.0)
    mapped: dict[str, dict[str, tuple[float, str, str]]] = field(default_factory=dict)

    def confidence(self, phrase: str, kind: str) -> float:
        m = self.mapped.get(phrase, {}).get(kind)
        return m[0] if m else 1.0

    def known(self, word: str) -> bool:
        return word in self.tokens


def _build_lexicon(v: "Vocabulary") -> Lexicon:
    tmp: dict[str, dict[str, list[Any]]] = {}  # phrase -> kind -> [level, {value: None}]
    canon: dict[str, str] = {}
    value_keys: set[str] = set()

    def add(phrase: str, kind: str, values: Iterable[str], level: int, can: str | None = None) -> None:
        vals = [x for x in values if x]
        if not phrase or not vals:
            return
        slot = tmp.setdefault(phrase, {})
        cur = slot.get(kind)
        if cur is None or level < cur[0]:
            slot[kind] = [level, dict.fromkeys(vals)]
            if can:
                canon[phrase] = can
        elif level == cur[0]:
            cur[1].update(dict.fromkeys(vals))
            if can and phrase not in canon:
                canon[phrase] = can

    # types: the value, its parts ("Perfume and Body Mist"), its head noun ("Laptop Bag" -> bag)
    tv = {key_of(t): t for t in v.types if not is_non_value(t)}
    heads: list[tuple[str, str]] = []
    for k, val in tv.items():
        for var in variants(k):
            add(var, "type", [val], 0)
            value_keys.add(var)
        last = k.split()[-1]
        if last in T.PLURAL_ONLY and last.endswith("s") and " " not in k:
            bare = last[:-1]  # "capri" for Capris, "jean" for Jeans; not "short" (a common word)
            if len(bare) >= 4 and bare not in T.COMMON_WORDS and bare not in T.STOPWORDS_EN:
                add(bare, "type", [val], 1)
        parts = [p.strip() for p in re.split(r"\band\b|,", k) if p.strip()]
        if len(parts) > 1:
            for p in parts:
                for var in variants(p):
                    add(var, "type", [val], 1)
        elif len(k.split()) >= 2 and k.split()[-1] not in T.HEAD_STOP:
            heads.append((k.split()[-1], val))
    for syn, targets in T.TYPE_SYNONYMS.items():
        vals = [tv[key_of(t)] for t in targets if key_of(t) in tv]
        if vals:
            for var in variants(key_of(syn)):
                add(var, "type", vals, 0, " ".join(key_of(x) for x in vals) if len(vals) <= 2 else var)

    # colours: each value, families (curated + "Dark Blue" joins "blue"), synonyms
    cv = {key_of(c).replace("gray", "grey"): c for c in v.colours if not is_non_value(c)}
    for k, val in cv.items():
        add(k, "colour", [val], 0)
        value_keys.add(k)
    families: dict[str, list[str]] = {f: [cv[key_of(m)] for m in ms if key_of(m) in cv]
                                      for f, ms in T.COLOUR_FAMILIES.items()}
    for k, val in cv.items():
        if " " not in k:
            families.setdefault(k, [val])
    for k, val in cv.items():
        toks = k.split()
        if len(toks) >= 2:
            for tok in toks:
                if tok in families and val not in families[tok]:
                    families[tok].append(val)
    for fam, vals in families.items():
        if vals:
            add(fam, "colour", vals, 0, fam)
            value_keys.add(fam)
    for syn, targets in T.COLOUR_SYNONYMS.items():
        cvals: list[str] = []
        for t in targets:
            tk = key_of(t)
            cvals += families.get(tk) or ([cv[tk]] if tk in cv else [])
        first = key_of(targets[0])
        add(key_of(syn), "colour", cvals, 0, first if first in T.COLOUR_FAMILIES else key_of(syn))
    for phrase in [p for p, s in tmp.items() if "colour" in s and "grey" in p]:
        add(phrase.replace("grey", "gray"), "colour", tmp[phrase]["colour"][1], 0, phrase)

    # genders: concepts (men -> Men + Unisex) and the values themselves
    gv = {key_of(g): g for g in v.genders if not is_non_value(g)}
    concept: dict[str, list[str]] = {c: [gv[n] for n in names if n in gv] for c, names in T.GENDER_VALUES.items()}
    for c, fb in T.GENDER_FALLBACK.items():
        if not concept[c]:
            concept[c] = list(concept[fb])
    for c in T.GENDER_WITH_UNISEX:
        if concept[c]:
            concept[c] = concept[c] + [u for u in concept["unisex"] if u not in concept[c]]
    for word, c in T.GENDER_WORDS.items():
        add(key_of(word), "gender", concept[c], 0, c)
    for k, val in gv.items():
        add(k, "gender", [val], 0)
        value_keys.add(k)

    # usages
    uv = {key_of(u): u for u in v.usages if not is_non_value(u)}
    for k, val in uv.items():
        add(k, "usage", [val], 0)
        value_keys.add(k)
    for syn, targets in T.USAGE_SYNONYMS.items():
        vals = [uv[key_of(t)] for t in targets if key_of(t) in uv]
        if vals:
            add(key_of(syn), "usage", vals, 0, key_of(vals[0]))

    # head nouns last, only where the word means nothing else
    blocked = T.STOPWORDS_EN | T.NEGATION_EN
    for head, val in heads:
        for var in variants(head):
            slot = tmp.get(var, {})
            if var in blocked or any(k in slot for k in ("colour", "gender", "usage")):
                continue
            add(var, "type", [val], 2)

    # words the catalogue never uses, from WordNet and the titles (concepts.py), last
    mapped: dict[str, dict[str, tuple[float, str, str]]] = {}
    for term, kinds in ((v.concepts or {}).get("terms") or {}).items():
        for kind, (values, conf, source, via) in kinds.items():
            if kind not in KINDS:
                continue
            for var in (variants(term) if kind == "type" else [term]):
                slot = tmp.get(var, {})
                if slot and (var != term or kind in slot):
                    continue  # a catalogue or table phrase: it wins
                add(var, kind, values, 3)
                mapped.setdefault(var, {})[kind] = (float(conf), str(source), str(via))

    entries = {p: {k: tuple(s[k][1]) for k in KINDS if k in s} for p, s in tmp.items()}
    counts = {"type": v.types, "colour": v.colours, "gender": v.genders, "usage": v.usages}
    weights = {p: max(sum(counts[k].get(x, 0) for x in xs) for k, xs in e.items()) for p, e in entries.items()}
    tokens = {t for p in entries for t in p.split()}
    tokens |= T.STOPWORDS_EN | T.NEGATION_EN | T.OR_WORDS | T.AND_WORDS | set(T.NUMBER_WORDS) | T.COMMON_WORDS
    tokens |= {t for en in T.ZH_TO_EN.values() for t in en.split()}
    max_len = max((len(p.split()) for p in entries), default=1)
    return Lexicon(entries, canon, value_keys, tokens, weights, max_len, mapped)


# --- the vocabulary -----------------------------------------------------------------------
@dataclass
class Vocabulary:
    """Catalogue values with product counts, title words with document frequencies and
    frequent (gender, colour, type) phrases for autocomplete."""

    types: dict[str, int] = field(default_factory=dict)
    colours: dict[str, int] = field(default_factory=dict)
    genders: dict[str, int] = field(default_factory=dict)
    usages: dict[str, int] = field(default_factory=dict)
    words: dict[str, int] = field(default_factory=dict)
    phrases: list[tuple[str, int]] = field(default_factory=list)
    concepts: dict[str, Any] = field(default_factory=dict)  # concepts.build_concepts: unknown words -> values

    VERSION: ClassVar[int] = 1
    MAX_WORDS: ClassVar[int] = 200_000
    MAX_PHRASES: ClassVar[int] = 4000
    MAX_TYPO_CANDIDATES: ClassVar[int] = 60_000

    # -- building and storage -----------------------------------------------------------
    @classmethod
    def build(cls, types: Iterable[str], colours: Iterable[str], genders: Iterable[str],
              usages: Iterable[str], texts: Iterable[str]) -> "Vocabulary":
        """Count values and words. When types/colours/genders are per-product columns
        aligned with texts, phrases come from them; otherwise from the titles."""
        tl = [last_segment(str(t or "")) for t in types]
        cl = [str(c or "").strip() for c in colours]
        gl = [str(g or "").strip() for g in genders]
        ul = [str(u or "").strip() for u in usages]
        xl = [str(x or "") for x in texts]

        def count(vals: Sequence[str]) -> dict[str, int]:
            c = Counter(x for x in vals if x and not is_non_value(x))
            return dict(c.most_common())

        df: Counter[str] = Counter()
        for text in xl:
            df.update(set(_text_words(text)))
        words = dict(df.most_common(cls.MAX_WORDS))
        vocab = cls(count(tl), count(cl), count(gl), count(ul), words, [])
        if xl and len(tl) == len(xl):
            combos = zip(tl, cl if len(cl) == len(xl) else [""] * len(xl),
                         gl if len(gl) == len(xl) else [""] * len(xl))
            vocab.phrases = vocab._phrases_from_columns(combos)
        elif xl:
            vocab.phrases = vocab._phrases_from_titles(xl)
        log.info("vocabulary: %d types, %d colours, %d genders, %d usages, %d words, %d phrases",
                 len(vocab.types), len(vocab.colours), len(vocab.genders), len(vocab.usages),
                 len(vocab.words), len(vocab.phrases))
        return vocab

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> "Vocabulary":
        """Build from catalogue rows, finding the fields by their usual names."""
        rows = list(records)

        def col(*names: str) -> list[str]:
            for n in names:
                if rows and any(n in r for r in rows[:50]):
                    return [str(r.get(n) or "") for r in rows]
            return [""] * len(rows)

        return cls.build(col("articleType", "type", "product_type", "category", "categories"),
                         col("baseColour", "colour", "color", "product_color"), col("gender"),
                         col("usage"), col("productDisplayName", "title", "name", "product_title"))

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.VERSION, "types": self.types, "colours": self.colours,
                "genders": self.genders, "usages": self.usages, "words": self.words,
                "phrases": [[p, n] for p, n in self.phrases], "concepts": self.concepts}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Vocabulary":
        return cls({str(k): int(n) for k, n in (d.get("types") or {}).items()},
                   {str(k): int(n) for k, n in (d.get("colours") or {}).items()},
                   {str(k): int(n) for k, n in (d.get("genders") or {}).items()},
                   {str(k): int(n) for k, n in (d.get("usages") or {}).items()},
                   {str(k): int(n) for k, n in (d.get("words") or {}).items()},
                   [(str(p), int(n)) for p, n in (d.get("phrases") or [])], dict(d.get("concepts") or {}))

    def with_concepts(self, concepts: dict[str, Any]) -> "Vocabulary":
        """This vocabulary with a concept map (the derived lexicon is rebuilt with it)."""
        self.concepts = concepts
        self.__dict__.pop("lexicon", None)
        for derived in ("_typo", "_completions", "_corrections"):
            self.__dict__.pop(derived, None)
        return self

    # -- phrases ------------------------------------------------------------------------------
    def _gender_word(self, g: str) -> str | None:
        k = key_of(g)
        for c in ("men", "women", "boys", "girls", "kids"):
            if k in T.GENDER_VALUES[c]:
                return c
        return None  # unisex or unknown: phrase without a gender

    def _phrases_from_columns(self, combos: Iterable[tuple[str, str, str]]) -> list[tuple[str, int]]:
        c: Counter[str] = Counter()
        gw: dict[str, str | None] = {}
        for t, col, g in combos:
            if not t or is_non_value(t):
                continue
            tk = key_of(t)
            ck = key_of(col) if col and not is_non_value(col) else ""
            if g not in gw:
                gw[g] = self._gender_word(g) if g else None
            c.update(_combos(gw[g], ck, tk))
            if gw[g] in ("boys", "girls"):
                c.update(_combos("kids", ck, tk))
        return [(p, n) for p, n in c.most_common(self.MAX_PHRASES) if n >= 2]

    def _phrases_from_titles(self, texts: Sequence[str]) -> list[tuple[str, int]]:
        lex = self.lexicon
        c: Counter[str] = Counter()
        for text in texts:
            toks = _text_words(text)
            g = col = ty = None
            i = 0
            while i < len(toks):
                for j in range(min(len(toks), i + lex.max_len), i, -1):
                    p = " ".join(toks[i:j])
                    e = lex.entries.get(p)
                    if e:
                        if g is None and "gender" in e:
                            g = lex.canon.get(p, p) if lex.canon.get(p, p) != "unisex" else ""
                        if col is None and "colour" in e and p in lex.value_keys:
                            col = p
                        if ty is None and "type" in e and p in lex.value_keys:
                            ty = key_of(e["type"][0])
                        i = j
                        break
                else:
                    i += 1
            if ty:
                c.update(_combos(g or None, col or "", ty))
        return [(p, n) for p, n in c.most_common(self.MAX_PHRASES) if n >= 2]

    # -- derived structures (not stored) ---------------------------------------------------
    @cached_property
    def lexicon(self) -> Lexicon:
        return _build_lexicon(self)

    @cached_property
    def _typo(self) -> tuple[dict[str, list[str]], dict[str, int]]:
        """SymSpell-style deletion index over title words (df >= 2) and table words."""
        lex = self.lexicon
        weight: dict[str, int] = {w: n for w, n in self.words.items() if n >= 2 and w.isascii() and w.isalpha()
                                  and len(w) >= 3}
        for p, n in lex.weights.items():
            if " " not in p and p.isascii() and p.isalpha() and len(p) >= 3:
                weight[p] = max(weight.get(p, 0), n, 1)
        if len(weight) > self.MAX_TYPO_CANDIDATES:
            weight = dict(heapq.nlargest(self.MAX_TYPO_CANDIDATES, weight.items(), key=lambda kv: kv[1]))
        index: dict[str, list[str]] = {}
        for w in weight:
            for d in _deletes(w[:_PREFIX], 2 if len(w) >= 6 else 1):
                index.setdefault(d, []).append(w)
        return index, weight

    @cached_property
    def _corrections(self) -> dict[str, str | None]:
        return {}

    @cached_property
    def _completions(self) -> tuple[list[str], dict[str, int]]:
        weight: dict[str, int] = {w: n for w, n in self.words.items() if n >= 2 and len(w) >= 2}
        for p, n in self.lexicon.weights.items():
            if p.isascii():
                weight[p] = max(weight.get(p, 0), n)
        return sorted(weight), weight

    @cached_property
    def _spellings(self) -> set[str]:
        """Catalogue values as typed in phrases ("sports shoes", not "sports shoe")."""
        return {key_of(x) for d in (self.types, self.colours, self.genders, self.usages) for x in d}

    @cached_property
    def _sorted_phrases(self) -> tuple[list[str], dict[str, int]]:
        d = dict(self.phrases)
        return sorted(d), d

    # -- typo tolerance -------------------------------------------------------------------------
    def is_known(self, word: str) -> bool:
        w = word.lower()
        return w in self.words or w in self.lexicon.tokens or w in zh_table()

    def correct(self, word: str) -> str | None:
        """The most likely intended catalogue word for a typo, or None (known word, too
        short, or nothing within 1 edit for 4-7 letters / 2 edits for 8+)."""
        w = prep(word).strip()
        if not (w.isascii() and w.isalpha()) or self.is_known(w):
            return None
        budget = allowed_typos(w)
        if budget == 0:
            return None
        cache = self._corrections
        if w in cache:
            return cache[w]
        index, weight = self._typo
        best: tuple[int, int, int, str] | None = None
        seen: set[str] = set()
        for d in _deletes(w[:_PREFIX], budget):
            for cand in index.get(d, ()):
                if cand in seen:
                    continue
                seen.add(cand)
                dist = osa(w, cand, budget)
                if dist <= budget:
                    k = (dist, -self.words.get(cand, 0), -weight[cand], cand)  # frequent in titles first
                    if best is None or k < best:
                        best = k
        out = best[3] if best else None
        if len(cache) > 50_000:
            cache.clear()
        cache[w] = out
        return out

    # -- autocomplete -------------------------------------------------------------------------
    def complete_word(self, partial: str, limit: int = 8) -> list[str]:
        """Catalogue words and phrases starting with `partial`, most frequent first."""
        keys, weight = self._completions
        lo = bisect.bisect_left(keys, partial)
        hi = bisect.bisect_left(keys, partial + "\uffff")
        if hi - lo <= 3 * limit:
            cands = keys[lo:hi]
        else:
            cands = heapq.nsmallest(3 * limit, keys[lo:hi], key=lambda k: (-weight[k], len(k), k))
        # the word itself first when it is complete ("dress" before "dress shoes")
        spelled = self._spellings
        whole = partial in self.lexicon.entries or self.words.get(partial, 0) >= 50
        cands = sorted((k for k in cands if weight[k] >= 2),
                       key=lambda k: (not (whole and k == partial), -weight[k], k not in spelled, len(k), k))
        out: list[str] = []
        seen: set[str] = set()
        for k in cands:  # one of "sneaker"/"sneakers"
            folded = " ".join(singular(w) for w in k.split())
            if folded not in seen:
                seen.add(folded)
                out.append(k)
        return out[:limit]

    def suggest(self, prefix: str, limit: int = 8) -> list[str]:
        """Completions of what is being typed: the last word completed from the catalogue
        vocabulary, and frequent whole phrases ("men black casual shoes"). Chinese input
        is mapped to the English concepts first."""
        p = prep(prefix)
        if not p.strip():
            return [ph for ph, _ in self.phrases[:limit]]
        if CJK.search(p):
            head, partials = self._zh_prefix(p)
        else:
            toks = key_of(p).split()
            if p[-1].isspace():
                head, partials = toks, [""]
            else:
                head, partials = toks[:-1], [toks[-1]] if toks else [""]
        head = [self._canon_word(t) for t in head]
        base = " ".join(head)
        out: list[str] = []
        folded: set[str] = set()

        def push(s: str) -> None:
            s = " ".join(s.split())
            f = " ".join(singular(w) for w in s.split())  # one of "sports shoe"/"sports shoes"
            if s and f not in folded:
                folded.add(f)
                out.append(s)

        words: list[str] = []
        phrases: list[tuple[int, str]] = []
        keys, counts = self._sorted_phrases
        for part in partials:
            words += self.complete_word(part, limit) if part else []
            stem = f"{base} {part}".strip() if part else (base + " " if base else "")
            lo = bisect.bisect_left(keys, stem)
            hi = bisect.bisect_left(keys, stem + "\uffff")
            phrases += [(counts[k], k) for k in keys[lo:hi] if k != stem.strip()]
            if len(phrases) < limit and head:  # words in another order: "black men" -> "men black ..."
                need = set(head)
                for k in self._sorted_phrases[0]:
                    kw = k.split()
                    if need <= set(kw) and (not part or any(x.startswith(part) for x in kw if x not in need)):
                        phrases.append((counts[k] // 2, k))
        words = list(dict.fromkeys(words))
        phrases = sorted(set(phrases), key=lambda x: (-x[0], x[1]))
        for w in words[:2]:
            push(f"{base} {w}")
        for _, k in phrases:
            if len(out) >= limit:
                break
            push(k)
        for w in words[2:]:
            if len(out) >= limit:
                break
            push(f"{base} {w}")
        return out[:limit]

    def _canon_word(self, tok: str) -> str:
        e = self.lexicon.entries.get(tok)
        if e and ("gender" in e or "colour" in e or "type" in e):
            return self.lexicon.canon.get(tok, tok)
        return tok

    def _zh_prefix(self, p: str) -> tuple[list[str], list[str]]:
        """Chinese prefix -> English head words and the options for the word being typed."""
        table = zh_table()
        p = zh_latin_replace(p)
        pieces: list[str] = []  # latin words and jieba tokens, in order
        for m in re.finditer(r"[a-z0-9]+|[\u3400-\u9fff]+", p):
            pieces += segment_zh(m.group(0)) if CJK.match(m.group(0)) else [m.group(0)]
        trailing = p[-1].isspace()
        if not pieces:
            return [], [""]
        head_pieces, partials = pieces, [""]
        if not trailing:
            last = pieces[-1]
            if CJK.match(last):
                zkeys = _zh_sorted()
                for n in (3, 2, 1):
                    tail = "".join(pieces[-n:])
                    if len(pieces) < n or not all(CJK.match(x) for x in pieces[-n:]):
                        continue
                    lo = bisect.bisect_left(zkeys, tail)
                    hi = bisect.bisect_left(zkeys, tail + "\uffff")
                    opts = [table[k] for k in zkeys[lo:hi] if table[k]]
                    if opts:
                        lens = sorted(range(lo, hi), key=lambda i: len(zkeys[i]))
                        opts = list(dict.fromkeys(table[zkeys[i]] for i in lens if table[zkeys[i]]))
                        head_pieces, partials = pieces[:-n], opts[:4]
                        break
            else:
                head_pieces, partials = pieces[:-1], [last]
        head: list[str] = []
        for t in head_pieces:
            if CJK.match(t):
                en = table.get(t)
                if en is None:
                    parts = zh_fmm(t)
                    en = " ".join(table[x] for x in parts) if parts else ""
                head += en.split()
            else:
                head.append(t)
        return [h for h in head if h not in ("not", "and", "or")], partials


_PREFIX = 7  # SymSpell prefix length: deletions are indexed on the first 7 letters


@lru_cache(maxsize=1)
def _zh_sorted() -> list[str]:
    return sorted(zh_table())


def _text_words(text: str) -> list[str]:
    s = prep(text)
    out: list[str] = []
    for m in _TEXT_WORD.finditer(s):
        w = m.group(0)
        out += segment_zh(w) if CJK.match(w) else [w]
    return out


def _combos(g: str | None, c: str, t: str) -> list[str]:
    out = [t]
    if c:
        out.append(f"{c} {t}")
    if g:
        out.append(f"{g} {t}")
        if c:
            out.append(f"{g} {c} {t}")
    return out
