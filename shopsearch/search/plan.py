"""Stage 1, plan: what a query asks for and how to look for it. The intent (parsed
words, and for a photo with words the photo's type), the text the retrievers see,
the hard filters, the weight of every retriever and boost, and the products a sure
intent names. No retrieval happens here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from shopsearch.encoders.base import l2n
from shopsearch.query.parser import Intent
from shopsearch.ranking.tune import query_type
from shopsearch.schema import Filters, Query
from shopsearch.search.context import SearchContext

RETRIEVERS = ("bm25", "text", "image", "visual", "photo_image", "photo_text")
Vectors = tuple[np.ndarray, np.ndarray]  # (aligned, visual) vectors of the query photos


@dataclass
class Plan:
    query: Query
    intent: Intent | None
    text: str | None  # what the lexical and dense text retrievers see
    filters: Filters  # the shopper's filters, plus the intent's in strict mode
    mask: np.ndarray | None  # the filters over the index's rows
    weights: dict[str, float]  # retriever -> weight
    attribute_weight: float
    image_only: bool  # words against product photos only
    loglinear: bool  # ... scored log-linearly (no photo in the query)
    photo: Vectors | None  # the query photos' vectors
    text_vector: np.ndarray | None = None  # retrieve by this vector instead of encoding `text`
    sure: np.ndarray | None = None  # rows with every attribute the intent names for sure
    started: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def has_photo(self) -> bool:
        return self.photo is not None


def embed_photos(ctx: SearchContext, images: list) -> Vectors:
    a, v = ctx.encoder.encode_image_both(list(images))
    return l2n(a.mean(0, keepdims=True))[0], l2n(v.mean(0, keepdims=True))[0]


def make_plan(ctx: SearchContext, q: Query, photo: Vectors | None = None, intent: Intent | None = None,
              text_vector: np.ndarray | None = None, started: float = 0.0) -> Plan:
    s = ctx.settings
    image_only = q.image_only()
    if q.images and photo is None:
        photo = embed_photos(ctx, q.images)
    if intent is None and q.text and q.understand:
        intent = ctx.parse(q.text)
    if intent is not None and intent.expansions and not ctx.facet_like("type"):
        intent.expansions = []  # free-form categories (ESCI): their words would only add noise
    text = retrieval_text(q.text, intent) if (intent and q.text) else q.text
    filters = q.filters.model_copy(deep=True)
    if intent and q.strict:
        filters.type += intent.types
        filters.colour += intent.colours
        filters.gender += intent.genders
        filters.price_min = filters.price_min if filters.price_min is not None else intent.price_min
        filters.price_max = filters.price_max if filters.price_max is not None else intent.price_max
    tuned = tuned_weights(ctx, q, intent)

    def pick(name: str) -> float:
        v = getattr(q.weights, name)
        if v is None:
            v = tuned.get(name)
        return float(v if v is not None else getattr(s, f"weight_{name}"))

    weights = {name: pick(name) for name in RETRIEVERS}
    if image_only and q.weights.image is None:
        weights["image"] = 1.0
    attr_w = q.weights.attributes if q.weights.attributes is not None else tuned.get("attributes", (
        s.photo_attribute_boost if image_only else s.attribute_boost))
    # words against photos only, scored log-linearly (settings: photo_text_temperature)
    loglinear = bool(image_only and text and photo is None and q.fusion is None)
    plan = Plan(query=q, intent=intent, text=text, filters=filters, mask=ctx.index.mask(filters), weights=weights,
                attribute_weight=attr_w, image_only=image_only, loglinear=loglinear, photo=photo,
                text_vector=text_vector, started=started)
    plan.sure = sure_mask(ctx, plan)
    return plan


def tuned_weights(ctx: SearchContext, q: Query, intent: Intent | None) -> dict[str, float]:
    """The weights `shopsearch tune` learned for this kind of query (none if untuned)."""
    tuned = ctx.tuned()
    return tuned.get(query_type(q, intent), {}) if tuned else {}


def retrieval_text(text: str, intent: Intent) -> str:
    """What the retrievers see. Chinese: the parser's English rendering. Otherwise the
    query as typed with typos fixed and the catalogue's words for words it never uses
    ("parka" -> jackets) added: negated words stay, because products say "without
    straw" too (ESCI recall fell 0.92 -> 0.88 when they were cut); negations act as
    penalties instead."""
    if intent.language != "en":
        return " ".join([intent.normalized] + intent.synonyms)
    extra = [e for e in intent.expansions + intent.synonyms if e not in text.lower()]
    if extra:
        text = f"{text} {' '.join(extra)}"
    for wrong, right in intent.corrections.items():
        text = re.sub(rf"\b{re.escape(wrong)}\b", right, text, flags=re.IGNORECASE)
    return text


def sure_mask(ctx: SearchContext, plan: Plan) -> np.ndarray | None:
    """Rows with every attribute the words name for sure (type first; colour and gender
    where some remain), over the whole index; None without a sure type. The shopper's
    type filter joins the words' types (the filter decides what is shown, the mask what
    counts); a colour or gender the shopper filters on is the filter's, not the parser's.
    A photo alone (more like this) keeps its own neighbours; a photo with words that ask
    for something does not."""
    intent, filters = plan.intent, plan.query.filters
    if intent is None or not intent.types or plan.image_only or not ctx.facet_like("type"):
        return None
    if plan.has_photo and not (intent.photo and (intent.colours or intent.genders or intent.price_max is not None)):
        return None
    ix = ctx.index
    m = np.isin(ix.column("type"), list(intent.types) + list(filters.type))
    for name, wanted in (("colour", intent.colours), ("gender", intent.genders)):
        if wanted and not getattr(filters, name) and ctx.facet_like(name):
            narrower = m & np.isin(ix.column(name), wanted)
            if narrower.any():
                m = narrower
    if intent.price_max is not None and plan.has_photo:
        m &= ~(ix.column("price") > intent.price_max)
    return m if m.any() else None


def photo_and_words(ctx: SearchContext, q: Query, intent: Intent | None) -> tuple[Vectors, Intent]:
    """"This, but in red": the photo decides the type (the tower's type head on the query
    photo and the types of its nearest catalogue photos) and the look; the words change
    what they name (colour, gender, price, a negated detail)."""
    s = ctx.settings
    images = list(q.images)
    full = getattr(ctx.encoder, "encode_image_heads", None)
    intent = intent if intent is not None else ctx.parse(q.text)
    if full is None:
        return embed_photos(ctx, images), intent
    a, v, attrs = full(images)
    vectors = (l2n(a.mean(0, keepdims=True))[0], l2n(v.mean(0, keepdims=True))[0])
    probs: dict[str, float] = {}
    for d in attrs:
        for label, p in (d.get("p", {}).get("type") or {}).items():
            probs[label] = probs.get(label, 0.0) + 0.5 * p / len(attrs)
    near = ctx.index.dense(vectors[1], "visual", s.photo_type_neighbours)
    if len(near.pos):
        wts = np.exp((near.scores - near.scores.max()) / s.photo_type_temperature)
        col = ctx.index.column("type")
        for p_, w_ in zip(near.pos, wts / wts.sum()):
            if col[int(p_)]:
                probs[col[int(p_)]] = probs.get(col[int(p_)], 0.0) + 0.5 * float(w_)
    if probs and not intent.types:
        top = max(probs.values())
        kinds = [t for t, p in sorted(probs.items(), key=lambda kv: -kv[1]) if p >= s.photo_type_share * top][:2]
        known = set(ctx.index.column("type"))
        intent.types = [t for t in kinds if t in known]
        intent.mappings.append({"word": "(the photo)", "kind": "type", "values": intent.types,
                                "confidence": round(top, 3), "source": "image tower", "via":
                                "the photo's type: the image tower's type head and the types of the "
                                "nearest catalogue photos", "gate": "attribute"})
    if intent.cheaper and intent.price_max is None and len(near.pos):  # cheaper than what the photo shows
        price = float(ctx.index.column("price")[int(near.pos[0])])
        if np.isfinite(price):
            intent.price_max = price
    intent.photo = True
    return vectors, intent
