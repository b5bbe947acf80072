"""Words the catalogue never uses, mapped onto the values it does use.

A shopper says "frock", "parka", "crimson" or "bloke"; the catalogue says Dresses,
Jackets, Red and Men. The curated tables cover some such words; this module covers
the rest from sources that generalise to words nobody wrote down and to any
catalogue, each mapping with a confidence:

- **WordNet** (`wordnet.py`): the synsets that name each catalogue type (the
  sense chosen by the embedding model against the catalogue's own titles of that
  type, so "top" is a garment, not a lid), their synonyms and their narrower
  concepts ("frock" = dress; "parka" is a kind of jacket; "crimson" a kind of red).
- **The catalogue's titles**: a word that nearly always appears in titles of one
  type ("kurti" in Kurtis, "chronograph" in Watches) stands for that type.
- **The text embedding model** (query time, `EmbeddingMatcher`): a query word no
  source knows is compared with the catalogue's type and colour names; its
  similarity threshold and confidence are calibrated per catalogue on the WordNet
  pairs above (which the embedding never saw), so no threshold is fitted to queries.

Built once per vocabulary at ingest (`build_concepts`), stored with it in the index,
so a serving process needs neither WordNet nor a rebuild. A mapping below the
engine's confidence gate only boosts; it never filters.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from shopsearch.query import tables as T

log = logging.getLogger(__name__)

Encode = Callable[[Sequence[str]], np.ndarray]  # texts -> L2-normalised rows

# How far a WordNet mapping is trusted, by how the word reaches the value's synset.
SYNONYM_CONF = 0.95  # a lemma of the value's own synset ("frock" for dress)
HYPONYM_CONF = (0.85, 0.75)  # one or two levels narrower ("sundress", "parka" under jacket)
HEAD_FACTOR = 0.85  # the value was found by its head noun only ("shoe" for "Casual Shoes")
SENSE_MARGIN = 0.06  # senses this close to the best-fitting one are kept too
HEAD_PRIOR = 0.05  # a synset whose first lemma is the type's own word fits a little better
TITLE_MIN_DF = 3  # a title word must be this frequent to speak for a type (full trust from 8)
TITLE_MIN_SHARE = 0.75  # ... and this often in titles of one type
ARTIFACT = ("noun.artifact", "noun.substance")
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Mapping:
    """One query word or phrase mapped onto catalogue values of one kind."""

    surface: str
    kind: str  # type | colour | gender | usage
    values: tuple[str, ...]
    confidence: float
    source: str  # table | wordnet | titles | embedding
    via: str = ""  # why, for the why panel

    def to_dict(self) -> dict[str, Any]:
        return {"word": self.surface, "kind": self.kind, "values": list(self.values),
                "confidence": round(self.confidence, 3), "source": self.source, "via": self.via}


def _key(s: str) -> str:
    from shopsearch.query.vocab import key_of

    return key_of(s)


def _lookup_forms(term: str) -> list[str]:
    """WordNet spellings to try for a catalogue phrase ("flip flops" -> "flip flop", "flip-flop")."""
    from shopsearch.query.vocab import singular

    words = term.split()
    if not words:
        return []
    sing = " ".join(words[:-1] + [singular(words[-1])])
    out = []
    for t in (term, sing):
        forms = [t, t.replace(" ", "-"), t.replace(" ", "")]
        if " " not in t and len(t) >= 5:
            forms.append(f"{t[0]}-{t[1:]}")  # "tshirt" -> "t-shirt"
        for form in forms:
            if form not in out:
                out.append(form)
    return out


class _Table:
    """term -> kind -> value -> (confidence, source, via), keeping the best per value."""

    def __init__(self) -> None:
        self.d: dict[str, dict[str, dict[str, tuple[float, str, str]]]] = defaultdict(lambda: defaultdict(dict))

    def add(self, term: str, kind: str, values: Iterable[str], conf: float, source: str, via: str) -> None:
        term = _key(term)
        if not term or term in T.STOPWORDS_EN or term in T.NEGATION_EN or len(term) < 3:
            return
        slot = self.d[term][kind]
        for v in values:
            if v and (v not in slot or slot[v][0] < conf):
                slot[v] = (conf, source, via)

    def export(self) -> dict[str, dict[str, list]]:
        """term -> kind -> [values, confidence, source, via]: the values within 0.05 of the best
        (a synonym of one value beats a narrower concept of another)."""
        out: dict[str, dict[str, list]] = {}
        for term, kinds in self.d.items():
            for kind, vals in kinds.items():
                if not vals:
                    continue
                best = max(c for c, _, _ in vals.values())
                keep = sorted((v for v, (c, _, _) in vals.items() if c >= best - 0.05), key=lambda v: -vals[v][0])
                conf, source, via = vals[keep[0]]
                out.setdefault(term, {})[kind] = [keep[:6], round(conf, 3), source, via]
        return out


# --- WordNet -------------------------------------------------------------------------------
def _type_contexts(types: dict[str, int], titles_by_type: dict[str, list[str]]) -> dict[str, str]:
    """What a type is in this catalogue: its name and its titles' most telling words."""
    df_all: Counter[str] = Counter()
    per: dict[str, Counter[str]] = {}
    for t, titles in titles_by_type.items():
        c: Counter[str] = Counter()
        for title in titles:
            c.update(set(_WORD.findall(title.lower())))
        per[t] = c
        df_all.update(c)
    out = {}
    for t in types:
        c = per.get(t, Counter())
        n = max(1, len(titles_by_type.get(t, [])))
        telling = sorted(c, key=lambda w: -(c[w] / n) * (c[w] / max(df_all[w], 1)))[:8]
        out[t] = f"{t}: " + " ".join(telling)
    return out


def _choose_senses(candidates: list, context_vec: np.ndarray, gloss_vecs: dict[str, np.ndarray],
                   heads: dict[str, float] | None = None) -> list:
    """The senses that fit the catalogue's use of a type: the gloss nearest the type's
    titles, with a small prior for a synset the word heads (WordNet lists a concept's
    usual name first: "dress, frock" before "attire, garb, dress")."""
    if not candidates:
        return []
    heads = heads or {}
    sims = [float(gloss_vecs[s.key] @ context_vec) + heads.get(s.key, 0.0) for s in candidates]
    best = max(sims)
    return [s for s, x in zip(candidates, sims) if x >= best - SENSE_MARGIN]


def _gloss_text(s) -> str:
    return f"{', '.join(s.lemmas[:4])}: {s.gloss.split(';')[0]}"


def wordnet_types(wn, types: dict[str, int], titles_by_type: dict[str, list[str]], encode: Encode,
                  table: _Table) -> list[tuple[str, str, str]]:
    """Map WordNet words onto catalogue types; returns (term, type, via) pseudo-labels
    of single-valued synonyms and hyponyms (to calibrate the embedding matcher)."""
    from shopsearch.query.vocab import is_non_value, key_of, singular

    found: dict[str, list[tuple[Any, float, str]]] = {}  # type -> [(synset, factor, the term that found it)]
    for t in types:
        if is_non_value(t):
            continue
        k = key_of(t)
        parts = [p.strip() for p in re.split(r"\band\b|,", k) if p.strip()]
        terms = [(k, 1.0)] + ([(p, 1.0) for p in parts] if len(parts) > 1 else [])
        if len(k.split()) >= 2 and len(parts) == 1 and k.split()[-1] not in T.HEAD_STOP:
            terms.append((singular(k.split()[-1]), HEAD_FACTOR))
        for term, factor in terms:
            syns = [s for form in _lookup_forms(term) for s in wn.synsets(form) if s.lexname in ARTIFACT]
            if syns:
                found.setdefault(t, []).extend((s, factor, term) for s in dict.fromkeys(syns))
                if factor == 1.0 and term == k:
                    break  # the whole name is in WordNet: its head would only widen it
    if not found:
        return []
    contexts = _type_contexts(types, titles_by_type)
    all_syns = list({s.key: s for pairs in found.values() for s, _, _ in pairs}.values())
    gvec = encode([_gloss_text(s) for s in all_syns])
    gloss_vecs = {s.key: gvec[i] for i, s in enumerate(all_syns)}
    ctx_types = list(found)
    cvec = encode([contexts[t] for t in ctx_types])
    labels: list[tuple[str, str, str]] = []
    for i, t in enumerate(ctx_types):
        by_term: dict[tuple[float, str], list] = defaultdict(list)  # each term's senses chosen on their own
        for s, f, term in found[t]:
            by_term[(f, term)].append(s)
        for (factor, term), syns in by_term.items():
            forms = set(_lookup_forms(term))
            heads = {s.key: HEAD_PRIOR for s in syns if s.lemmas[0] in forms or s.lemmas[0].replace("-", " ") in forms}
            for s in _choose_senses(list(dict.fromkeys(syns)), cvec[i], gloss_vecs, heads):
                name = s.lemmas[0]
                for lemma in s.lemmas:
                    via = f"WordNet: '{lemma}' is a synonym of '{name}'" if lemma != name else f"WordNet: {name}"
                    table.add(lemma, "type", [t], SYNONYM_CONF * factor, "wordnet", via)
                    labels.append((key_of(lemma), t, via))
                for h, level in wn.hyponyms(s, len(HYPONYM_CONF)):
                    for lemma in h.lemmas:
                        via = f"WordNet: '{lemma}' is a kind of '{name}'"
                        table.add(lemma, "type", [t], HYPONYM_CONF[level - 1] * factor, "wordnet", via)
                        labels.append((key_of(lemma), t, via))
    return labels


def wordnet_colours(wn, families: dict[str, tuple[str, ...]], table: _Table) -> list[tuple[str, str, str]]:
    """Colour words onto catalogue colour values: the WordNet colour nouns (noun.attribute)
    and adjectives named by each family word or value, their synonyms and shades."""
    from shopsearch.query.vocab import key_of

    labels = []
    for word, values in families.items():
        if not values:
            continue
        for s in wn.synsets(word):
            if s.lexname != "noun.attribute" or word not in s.lemmas:
                continue
            for lemma in s.lemmas:
                table.add(lemma, "colour", values, SYNONYM_CONF, "wordnet", f"WordNet: '{lemma}' is {word}")
                labels.append((key_of(lemma), word, "syn"))
            for h, level in wn.hyponyms(s, len(HYPONYM_CONF)):
                for lemma in h.lemmas:
                    table.add(lemma, "colour", values, HYPONYM_CONF[level - 1], "wordnet",
                              f"WordNet: '{lemma}' is a shade of {word}")
                    labels.append((key_of(lemma), word, "hyp"))
        for s in wn.synsets(word, "adj")[:2]:  # the first senses: "red" the colour, not "red" the politics
            if word not in s.lemmas[:3]:
                continue
            for lemma in s.lemmas:
                table.add(lemma, "colour", values, HYPONYM_CONF[0], "wordnet",
                          f"WordNet: '{lemma}' means {word}")
    return labels


def wordnet_genders(wn, concepts: dict[str, tuple[str, ...]], table: _Table) -> None:
    """Person nouns onto gender concepts: the first person senses of "man", "woman",
    "boy", "girl", "child" and their direct hyponyms ("bloke", "lass", "toddler")."""
    for word, values in concepts.items():
        if not values:
            continue
        for s in [s for s in wn.synsets(word) if s.lexname == "noun.person"][:2]:
            for lemma in s.lemmas:
                table.add(lemma, "gender", values, 0.9, "wordnet", f"WordNet: '{lemma}' is a {word}")
            for h, _ in wn.hyponyms(s, 1):
                for lemma in h.lemmas:
                    table.add(lemma, "gender", values, 0.8, "wordnet", f"WordNet: '{lemma}' is a kind of {word}")


# --- the catalogue's titles ------------------------------------------------------------------
def title_types(titles: Sequence[str], types: Sequence[str], known: set[str], table: _Table) -> None:
    """Title words that nearly always name one type ("kurti" -> Kurtis)."""
    from shopsearch.query.vocab import is_non_value

    df: Counter[str] = Counter()
    joint: dict[str, Counter[str]] = defaultdict(Counter)
    for title, t in zip(titles, types):
        if not t or is_non_value(t):
            continue
        for w in set(_WORD.findall(title.lower())):
            df[w] += 1
            joint[w][t] += 1
    for w, n in df.items():
        if n < TITLE_MIN_DF or len(w) < 3 or w in known or w in T.STOPWORDS_EN or w in T.COMMON_WORDS:
            continue
        (top, m), = joint[w].most_common(1)
        share = m / n
        if share >= TITLE_MIN_SHARE:
            conf = (0.6 + 0.3 * (share - TITLE_MIN_SHARE) / (1 - TITLE_MIN_SHARE)) * min(1.0, (n / 8) ** 0.5)
            table.add(w, "type", [top], conf, "titles", f"{m} of {n} titles with '{w}' are {top}")


# --- the embedding model -------------------------------------------------------------------
def calibrate(pairs: list[tuple[str, str]], targets: list[str], encode: Encode,
              precision: float = 0.8) -> dict[str, Any]:
    """Similarity threshold and confidence curve for matching a word to its nearest
    target by embedding, from (word, right target) pairs the embedding never saw:
    the confidence at similarity x is the share of pairs at or above x whose nearest
    target was the right one; the threshold is where that share reaches `precision`."""
    default = {"threshold": 1.01, "curve": [], "pairs": 0}
    pairs = [(w, t) for w, t in dict.fromkeys(pairs) if t in targets and w not in targets]
    if len(pairs) < 20:
        return default
    tv = encode(targets)
    wv = encode([w for w, _ in pairs])
    sims = wv @ tv.T
    best = sims.argmax(1)
    top = sims.max(1)
    right = np.array([targets[b] == t for b, (_, t) in zip(best, pairs)])
    order = np.argsort(-top)
    top, right = top[order], right[order]
    prec = np.cumsum(right) / np.arange(1, len(right) + 1)
    curve = []
    for q in np.linspace(0, len(top) - 1, 12).astype(int):
        curve.append([round(float(top[q]), 4), round(float(prec[q]), 4)])
    ok = np.flatnonzero((prec >= precision) & (np.arange(len(prec)) >= 9))
    threshold = float(top[ok[-1]]) if len(ok) else 1.01
    return {"threshold": round(threshold, 4), "curve": curve, "pairs": len(pairs),
            "precision_at_threshold": round(float(prec[ok[-1]]), 3) if len(ok) else None}


def confidence(curve: list[list[float]], sim: float) -> float:
    """The calibrated confidence of a similarity (the curve's share at the nearest point above)."""
    conf = 0.0
    for x, p in curve:  # descending similarity
        if sim >= x:
            return max(conf, p)
        conf = p
    return 0.0


def build_concepts(vocab, titles: Sequence[str], types: Sequence[str], encode: Encode | None,
                   wn=None) -> dict[str, Any]:
    """The concept map of a catalogue: {"terms": term -> kind -> [values, conf, source, via],
    "calibration": kind -> threshold and curve}. Terms the catalogue or the curated
    tables already name are left to them."""
    from shopsearch.query.vocab import key_of

    base = vocab.lexicon  # catalogue values and curated tables: they win
    known = set(base.entries) | set(base.tokens)
    table = _Table()
    titles_by_type: dict[str, list[str]] = defaultdict(list)
    for title, t in zip(titles, types):
        if t:
            titles_by_type[t].append(title)
    type_labels: list[tuple[str, str, str]] = []
    colour_labels: list[tuple[str, str, str]] = []
    families = {f: tuple(base.entries[f]["colour"]) for f in T.COLOUR_FAMILIES
                if f in base.entries and "colour" in base.entries[f]}
    for c in vocab.colours:
        k = key_of(c)
        if k in base.entries and "colour" in base.entries[k] and " " not in k:
            families.setdefault(k, tuple(base.entries[k]["colour"]))
    if wn is not None and encode is not None:
        type_labels = wordnet_types(wn, vocab.types, titles_by_type, encode, table)
        colour_labels = wordnet_colours(wn, families, table)
        genders = {c: tuple(base.entries[c]["gender"]) for c in ("man", "male", "woman", "female", "boy", "girl", "child")
                   if c in base.entries and "gender" in base.entries[c]}
        wordnet_genders(wn, genders, table)
    title_types(titles, types, known, table)
    terms = {t: k for t, k in table.export().items() if t not in base.entries}
    calibration: dict[str, Any] = {}
    if encode is not None:
        type_targets = [t for t in vocab.types]
        tpairs = [(w, t) for w, t, _ in type_labels if len(w.split()) == 1]
        calibration["type"] = dict(calibrate(tpairs, type_targets, encode), targets=type_targets)
        colour_targets = list(families)
        cpairs = [(w, f) for w, f, _ in colour_labels if len(w.split()) == 1]
        calibration["colour"] = dict(calibrate(cpairs, colour_targets, encode), targets=colour_targets)
    log.info("concepts: %d terms (%s)", len(terms),
             ", ".join(f"{k} threshold {v['threshold']} from {v['pairs']} pairs" for k, v in calibration.items()))
    return {"version": 1, "terms": terms, "calibration": calibration}


class EmbeddingMatcher:
    """Query-time fallback for a word no table, title or WordNet entry knows: its
    nearest catalogue type or colour name by the text model, kept when the
    similarity passes the catalogue's calibrated threshold."""

    def __init__(self, concepts: dict[str, Any], encode: Encode, families: dict[str, tuple[str, ...]]) -> None:
        self.encode = encode
        self.kinds: dict[str, tuple[list[str], np.ndarray, dict[str, Any]]] = {}
        for kind, cal in (concepts.get("calibration") or {}).items():
            targets = list(cal.get("targets") or [])
            if targets and cal.get("threshold", 1.01) <= 1.0:
                self.kinds[kind] = (targets, encode(targets), cal)
        self.families = families
        self._cache: dict[str, list[Mapping]] = {}

    def match(self, words: Sequence[str]) -> list[Mapping]:
        """Mappings for unknown words (each alone), best kind per word."""
        todo = [w for w in dict.fromkeys(words) if w not in self._cache]
        if todo and self.kinds:
            vecs = self.encode(todo)
            for w, v in zip(todo, vecs):
                found: list[Mapping] = []
                for kind, (targets, tv, cal) in self.kinds.items():
                    sims = tv @ v
                    i = int(sims.argmax())
                    sim = float(sims[i])
                    if sim >= cal["threshold"]:
                        conf = confidence(cal["curve"], sim)
                        values = (targets[i],) if kind == "type" else self.families.get(targets[i], (targets[i],))
                        found.append(Mapping(w, kind, tuple(values), conf, "embedding",
                                             f"text model: '{w}' is nearest to '{targets[i]}' (similarity "
                                             f"{sim:.2f}, threshold {cal['threshold']:.2f})"))
                found.sort(key=lambda m: -m.confidence)
                if len(self._cache) > 20_000:
                    self._cache.clear()
                self._cache[w] = found[:1]
        return [m for w in dict.fromkeys(words) for m in self._cache.get(w, [])]
