"""Boosts and penalties from a parsed intent: the attributes a query names (type,
colour, gender, price; brand for words against photos) lift the candidates that have
them, negated ones push down the candidates that have those.

Bounded on purpose: weight x (share-weighted fraction of named attributes the
product has), so a wrong guess costs little while a right one fixes what embeddings
miss. Words against photos only score log-linearly instead, so a photo must look
like every attribute a product name names (settings photo_*)."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from shopsearch.index.lexical import tokenize
from shopsearch.query.parser import Intent
from shopsearch.ranking.fusion import photo_evidence


class Evidence(Protocol):
    """What the boosts read (search.context.SearchContext is one)."""

    settings: Any
    index: Any

    def facet_like(self, name: str) -> float: ...

    def predicted_p(self, pos: int, name: str, wanted) -> float: ...

    def predicted_ps(self, pos: np.ndarray, name: str, wanted) -> np.ndarray: ...


def named_attributes(intent: Intent, image_only: bool) -> list[tuple[str, dict[str, float]]]:
    """(field, value -> weight) for every attribute the intent names: sure values weigh 1,
    a weak mapping's values its confidence (a boost in proportion, never a filter)."""
    named = [("type", intent.types), ("colour", intent.colours), ("gender", intent.genders)]
    if image_only:  # a brand only the photo can tell (the brand head)
        named.append(("brand", intent.brands))
    out = [(n, dict.fromkeys(v, 1.0)) for n, v in named if v]
    have = {n for n, _ in out}
    out += [(n, dict(vals)) for n, vals in intent.weak.items() if vals and n in ("type", "colour", "gender")
            and n not in have]
    return out


def mapped_words(intent: Intent, kind: str) -> set[str]:
    """The query's words of one kind that only WordNet, the titles or the text model mapped
    ("turquoise" as a shade of blue): their mapping is a reading, the word itself is evidence."""
    return {t for m in intent.mappings if m.get("kind") == kind and m.get("source") in ("wordnet", "embedding")
            for t in tokenize(m.get("word", ""))}


def intent_scores(ctx: Evidence, intent: Intent, pos: np.ndarray, image_only: bool, weight: float,
                  loglinear: bool = False) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(boost, penalty) per candidate, None where there is nothing to add."""
    s, ix = ctx.settings, ctx.index
    col = (lambda name: ix.column(f"pred:{name}")) if image_only else ix.column
    named = named_attributes(intent, image_only)
    boost = None
    if named and weight > 0:
        hit = np.zeros(len(pos))
        shares = {n: getattr(s, f"attribute_share_{n}") * (1.0 if n == "brand" else ctx.facet_like(n))
                  for n, _ in named}
        norm = sum(shares.values()) or 1.0
        for name, wanted in named:
            share = shares[name] / norm
            if loglinear:
                if shares[name] > 0:
                    hit += photo_evidence(ctx.predicted_ps(pos, name, wanted), s)
            elif image_only:  # soft evidence: the image tower's probability of a wanted label
                hit += share * ctx.predicted_ps(pos, name, wanted)
            else:  # the product's own attribute; its photo's evidence where the text has none
                values = col(name)[pos]
                own = np.fromiter((wanted.get(c, 0.0) for c in values), float, len(pos))
                blank = np.flatnonzero(~values.astype(bool))  # no own label ("" or None): the photo's evidence
                own[blank] = [ctx.predicted_p(int(pos[i]), name, wanted) for i in blank]
                said = mapped_words(intent, name)
                if said:  # a word mapped by WordNet or the text model: a title that says the word has it too
                    titles = ix.column("title")[pos]
                    own = np.maximum(own, np.fromiter((bool(said & set(tokenize(t))) for t in titles), float, len(pos)))
                hit += share * own
        boost = weight * hit
    if (intent.price_min is not None or intent.price_max is not None) and not image_only:
        price = ix.column("price")[pos]
        ok = np.isfinite(price)
        if intent.price_min is not None:
            ok &= price >= intent.price_min
        if intent.price_max is not None:
            ok &= price <= intent.price_max
        boost = (boost if boost is not None else 0) + weight * ok
    neg = [("type", set(intent.negated_types)), ("colour", set(intent.negated_colours)),
           ("usage", set(intent.negated_usages))]
    penalty = None
    for name, bad in neg:
        if bad and ctx.facet_like(name):
            values = col(name)[pos]
            hitn = np.fromiter((c in bad for c in values), bool, len(pos))
            penalty = (penalty if penalty is not None else 0) + s.negated_attribute_penalty * weight * hitn
    terms = {t for term in intent.negated_terms for t in tokenize(term)}
    if terms and not image_only:  # "without logo": only the title speaks for the product
        titles = ix.column("title")[pos]
        hitn = np.fromiter((bool(terms & set(tokenize(t))) for t in titles), bool, len(pos))
        penalty = (penalty if penalty is not None else 0) + s.negated_word_penalty * weight * hitn
    return boost, penalty
