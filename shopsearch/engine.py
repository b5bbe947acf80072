"""The search engine: one object that holds the index and the encoders (loaded
once) and answers `Query` objects. CLI, Python API and HTTP API all call this.

Text queries fuse BM25, dense text-to-text and dense text-to-photo; photo queries
use the visual vector (photo-to-photo) and the aligned vector (photo-to-text);
both together add up. Parsed intent (type, colour, gender, price, negations)
becomes bounded boosts, or filters with `strict`."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from shopsearch.encoders.base import ImageLike, l2n
from shopsearch.index.base import Candidates, Index, IndexMismatch, open_index
from shopsearch.index.lexical import tokenize
from shopsearch.ranking.fusion import borrowed_words, fuse, photo_evidence
from shopsearch.schema import FACET_FIELDS, Hit, Query, SearchResult
from shopsearch.settings import Settings, get_settings

log = logging.getLogger(__name__)

PRICE_BUCKETS = [(0, 25), (25, 50), (50, 100), (100, 250), (250, 500), (500, None)]


class Engine:
    """Open once, search many times."""

    def __init__(self, index: str | Path | Index, settings: Settings | None = None, encoder=None,
                 create: bool = False, events=None) -> None:
        self.settings = settings or get_settings()
        self.index = index if isinstance(index, Index) else open_index(index, create=create, token=self.settings.milvus_token)
        self._encoder = encoder
        self._vocab = None
        self._vocab_gen = None
        self.events = events  # an event store with for_session(id); enables personalisation

    # -- heavy objects, loaded once ------------------------------------------------
    @property
    def encoder(self):
        if self._encoder is None:
            from shopsearch.encoders.factory import load_encoder

            # Queries must be embedded by the model the index was built with: vectors
            # from two models live in different spaces and would rank at random.
            built_with = self.index.get_meta("image_model")
            model = Path(built_with) if built_with and Path(built_with).exists() else None
            encoder = load_encoder(self.settings, image_model=model)
            want = self.index.get_meta("encoder")
            if want not in (None, encoder.id):
                where = (f"the model folder it was built with, {built_with}, is gone" if built_with and model is None
                         else f"the model at {model or self.settings.image_model} has changed since")
                raise IndexMismatch(
                    f"index {self.index.location} was built with the encoder {want}, but this process would embed "
                    f"queries with {encoder.id} ({where}); the results would be wrong. Point --model or "
                    f"SHOPSEARCH_IMAGE_MODEL at the model it was built with, or rebuild the index with this one: "
                    f"shopsearch ingest CATALOGUE --images DIR --index {self.index.location} --model MODEL")
            self._encoder = encoder
        return self._encoder

    @property
    def vocab(self):
        gen = self.index.generation()
        if self._vocab is None or gen != self._vocab_gen:
            from shopsearch.query.vocab import Vocabulary

            d = self.index.get_meta("vocab")
            self._vocab = Vocabulary.from_dict(d) if d else Vocabulary.build([], [], [], [], [])
            self._vocab_gen = gen
        return self._vocab

    def warm_up(self) -> None:
        """Load models and the index snapshot before the first request."""
        self.encoder.encode_text(["warm up"])
        self.index.ids()
        _ = self.matcher

    # -- queries -------------------------------------------------------------------
    def parse(self, text: str):
        from shopsearch.query.parser import parse

        return parse(text, self.vocab, self.matcher, self.settings.concept_strong)

    @property
    def matcher(self):
        """The text model's fallback for words nothing else maps (built once per vocabulary)."""
        vocab = self.vocab
        if getattr(self, "_matcher_for", None) is not vocab:
            from shopsearch.query.concepts import EmbeddingMatcher

            lex = vocab.lexicon
            families = {k: tuple(e["colour"]) for k, e in lex.entries.items() if "colour" in e and k in lex.value_keys}
            self._matcher = (EmbeddingMatcher(vocab.concepts, self.encoder.encode_text, families)
                             if self.settings.concept_embedding and vocab.concepts else None)
            self._matcher_for = vocab
        return self._matcher

    def embed_images(self, images: Sequence[ImageLike]) -> tuple[np.ndarray, np.ndarray]:
        a, v = self.encoder.encode_image_both(list(images))
        return l2n(a.mean(0, keepdims=True))[0], l2n(v.mean(0, keepdims=True))[0]

    def search(self, q: Query, image_vectors: tuple[np.ndarray, np.ndarray] | None = None,
               intent=None) -> SearchResult:
        """`image_vectors` and `intent` let callers (more like this) pass what they already know.
        The whole search reads one view of the index, even while an ingest writes."""
        with self.index.pinned():
            if q.images and q.text and q.understand and not q.image_only() and image_vectors is None:
                # a photo and words: one intent, the photo's type and look changed by what the words ask
                image_vectors, intent = self._photo_and_words(q, intent)
            if q.facets and any(getattr(q.filters, f) for f in FACET_FIELDS):
                # the facet pools below search again: embed the photos and parse the text once
                if q.images and image_vectors is None:
                    image_vectors = self.embed_images(q.images)
                if intent is None and q.text and q.understand:
                    intent = self.parse(q.text)
            res = self._search(q, image_vectors, intent)
            if q.facets:
                self._disjunctive_facets(q, image_vectors, intent, res)
            return res

    def _photo_and_words(self, q: Query, intent):
        """"This, but in red": the photo decides the type (the tower's type head on the
        query photo) and the look; the words change what they name (colour, gender, price,
        a negated detail). Returns the photo's vectors and the combined intent."""
        s = self.settings
        images = list(q.images)
        full = getattr(self.encoder, "encode_image_full", None)
        if full is None:
            return self.embed_images(images), intent
        a, v, attrs = full(images)
        vectors = (l2n(a.mean(0, keepdims=True))[0], l2n(v.mean(0, keepdims=True))[0])
        intent = intent if intent is not None else self.parse(q.text)
        # the photo's type: the tower's type head, and the types of its nearest catalogue photos
        probs: dict[str, float] = {}
        for d in attrs:
            for label, p in (d.get("p", {}).get("type") or {}).items():
                probs[label] = probs.get(label, 0.0) + 0.5 * p / len(attrs)
        near = self.index.dense(vectors[1], "visual", s.photo_type_neighbours)
        if len(near.pos):
            wts = np.exp((near.scores - near.scores.max()) / 0.05)
            col = self.index.column("type")
            for p_, w_ in zip(near.pos, wts / wts.sum()):
                if col[int(p_)]:
                    probs[col[int(p_)]] = probs.get(col[int(p_)], 0.0) + 0.5 * float(w_)
        if probs and not intent.types:
            top = max(probs.values())
            kinds = [t for t, p in sorted(probs.items(), key=lambda kv: -kv[1]) if p >= s.photo_type_share * top][:2]
            known = set(self.index.column("type"))
            intent.types = [t for t in kinds if t in known]
            intent.mappings.append({"word": "(the photo)", "kind": "type", "values": intent.types,
                                    "confidence": round(top, 3), "source": "image tower", "via":
                                    "the photo's type: the image tower's type head and the types of the "
                                    "nearest catalogue photos", "gate": "attribute"})
        if intent.cheaper and intent.price_max is None:  # cheaper than the product the photo shows
            nearest = self.index.dense(vectors[1], "visual", 1)
            if len(nearest.pos):
                price = float(self.index.column("price")[int(nearest.pos[0])])
                if np.isfinite(price):
                    intent.price_max = price
        intent.photo = True
        return vectors, intent

    def _disjunctive_facets(self, q: Query, image_vectors, intent, res: SearchResult) -> None:
        """A facet field the shopper has filtered on counts its values as if that one
        filter were off (and every other on), so "Black" being picked still shows
        "Navy Blue (12)" to add: multi-select, as shops do it."""
        for name in FACET_FIELDS:
            if not getattr(q.filters, name):
                continue
            others = q.model_copy(update={"filters": q.filters.model_copy(update={name: []}), "session": None})
            pool = self._search(others, image_vectors, intent, pool_only=True)
            counts = self._facets(pool).get(name, {})
            listed = {k.lower() for k in counts}
            for v in getattr(q.filters, name):  # a picked value stays listed, even at zero
                if v.lower() not in listed:
                    counts[v] = 0
            res.facets[name] = counts

    def _search(self, q: Query, image_vectors: tuple[np.ndarray, np.ndarray] | None, intent,
                pool_only: bool = False):
        t0 = time.perf_counter()
        s = self.settings
        ix = self.index
        K = s.candidates
        image_only = q.image_only()
        if intent is None:
            intent = self.parse(q.text) if (q.text and q.understand) else None
        if intent is not None and getattr(intent, "expansions", None) and not self._facet_like("type"):
            intent.expansions = []  # free-form categories (ESCI): their words would only add noise
        text = self._retrieval_text(q.text, intent) if (intent and q.text) else q.text

        filters = q.filters.model_copy(deep=True)
        if intent and q.strict:
            filters.type += intent.types
            filters.colour += intent.colours
            filters.gender += intent.genders
            filters.price_min = filters.price_min if filters.price_min is not None else intent.price_min
            filters.price_max = filters.price_max if filters.price_max is not None else intent.price_max
        mask = ix.mask(filters)

        tuned = self._tuned_weights(q, intent)

        def pick(name: str) -> float:
            v = getattr(q.weights, name)
            if v is None:
                v = tuned.get(name)
            return float(v if v is not None else getattr(s, f"weight_{name}"))

        w = {name: pick(name) for name in ("bm25", "text", "image", "visual", "photo_image", "photo_text")}
        if image_only and q.weights.image is None:
            w["image"] = 1.0
        attr_w = q.weights.attributes if q.weights.attributes is not None else tuned.get("attributes", (
            s.photo_attribute_boost if image_only else s.attribute_boost))

        # words against photos only, scored log-linearly (settings: photo_text_temperature)
        loglinear = bool(image_only and text and not q.images and image_vectors is None and q.fusion is None)
        channels: dict[str, Candidates] = {}
        vecs: dict[str, tuple[np.ndarray, str]] = {}
        if text:
            # a channel weighted 0 is dropped below: skip its search (and the query's encoding if none needs it)
            dense_text = not image_only and w["text"] > 0
            qv = self.encoder.encode_text([text])[0] if (dense_text or w["image"] > 0) else None
            if not image_only and w["bm25"] > 0:
                channels["bm25"] = ix.bm25(tokenize(text), K, mask)
            if dense_text:
                channels["text"] = ix.dense(qv, "text", K, mask)
                vecs["text"] = (qv, "text")
            if w["image"] > 0:
                channels["image"] = ix.dense(qv, "image", K, mask)
                vecs["image"] = (qv, "image")
        if q.images or image_vectors is not None:
            a, v = image_vectors if image_vectors is not None else self.embed_images(q.images)
            channels["visual"] = ix.dense(v, "visual", K, mask)
            vecs["visual"] = (v, "visual")
            if w["photo_image"] > 0:
                channels["photo_image"] = ix.dense(a, "image", K, mask)
                vecs["photo_image"] = (a, "image")
            if not image_only:
                channels["photo_text"] = ix.dense(a, "text", K, mask)
                vecs["photo_text"] = (a, "text")
        channels = {k: c for k, c in channels.items() if w.get(k, 1.0) > 0}
        photo = bool(q.images) or image_vectors is not None
        sure = self._sure_mask(intent, image_only, photo, q.filters)
        reach = "visual" if "visual" in vecs else "text" if "text" in vecs else None
        if sure is not None and channels and reach:
            # every product of the sure type (colour, gender) can be reached, not only those
            # another retriever happened to bring: candidates with no weight of their own
            vec, field = vecs[reach]
            if intent.price_max is not None:
                price = ix.column("price")
                sure = sure & ~(price > intent.price_max)
            channels["intent"] = ix.dense(vec, field, K, sure if mask is None else sure & mask)
            w["intent"] = 0.0

        if channels:
            pos0 = np.unique(np.concatenate([c.pos for c in channels.values()])) if channels else np.zeros(0, np.int64)
            exact = {k: ix.dense_scores(vec, field, pos0) for k, (vec, field) in vecs.items() if k in channels}
            method = q.fusion or (s.photo_fusion if (q.images or image_vectors is not None) else s.fusion)
            pos, score, parts = fuse(channels, w, method, s.rrf_k, exact)
            if loglinear and "image" in exact:  # cosines, not ranks: the evidence below adds to them
                score = exact["image"].astype(np.float64)
                parts = {"image": score.copy()}
            for k, e in exact.items():  # raw similarities for the "why" panel
                parts[f"{k}_sim"] = e
            if "bm25" in channels:
                raw = np.zeros(len(pos))
                raw[np.searchsorted(pos, channels["bm25"].pos)] = channels["bm25"].scores  # pos: the sorted union
                parts["bm25_score"] = raw
        else:  # browse: filters only
            pos = np.arange(len(ix.ids())) if mask is None else np.where(mask)[0]
            score = np.zeros(len(pos))
            parts = {}

        matched, by_intent = self._matched(q, sure, pos, parts, image_only, photo)
        if pool_only:  # the matching candidates, for facet counts
            return pos if matched is None else pos[matched]
        if intent is not None and len(pos):
            if image_only and not intent.brands:
                intent.brands = self._brands(q.text)
            boost, penalty = self._intent_scores(intent, pos, image_only, attr_w, loglinear)
            if boost is not None:
                parts["attributes"] = boost
                score = score + boost
            if penalty is not None:
                parts["negation"] = -penalty
                score = score - penalty
        if loglinear and q.understand and s.photo_words > 0 and len(pos):
            borrowed = self._borrowed_words(text, pos)
            if borrowed is not None:
                parts["words"] = borrowed
                score = score + borrowed
        mods = self._modifiers()
        if mods and len(pos) and q.sort == "relevance":
            from shopsearch.ranking.modifiers import modifier_scores

            pop = self.events.popularity() if (self.events is not None and any(m.field == "popularity" for m in mods)) else None
            for name, contrib in modifier_scores(mods, ix, pos, pop).items():
                parts[name] = contrib
                score = score + contrib
        if q.negative and len(pos):
            pen = self._negative(q.negative, pos, image_only)
            parts["negative"] = -pen
            score = score - pen

        profile = None
        if q.session and q.personalize and self.events is not None and len(pos) and q.sort == "relevance":
            profile = self._profile(q.session)
            if profile is not None and not profile.is_empty():
                from shopsearch.ranking.personal import affinity, bounded_rerank

                boost = s.personal_boost * affinity(profile, ix, pos)
                parts["personal"] = boost
                order = bounded_rerank(score, score + boost, s.personal_max_drop)
                score = score + boost
            else:
                profile = None
        if profile is None:
            order = self._sort(q.sort, pos, score)
        if matched is not None and by_intent:  # what matches every sure attribute first, the rest after
            if getattr(intent, "photo", False) and "visual_sim" in parts:
                # a photo with words: among the products that have what was asked, the photo's look decides
                rank = np.empty(len(order), np.int64)
                rank[order] = np.arange(len(order))
                look = np.where(matched, -parts["visual_sim"], rank)
                order = np.lexsort((rank, look, ~matched))
            else:
                order = order[np.argsort(~matched[order], kind="stable")]
        pos, score = pos[order], score[order]
        parts = {k: v[order] for k, v in parts.items()}
        if matched is not None:
            matched = matched[order]
        total = len(pos) if matched is None else int(matched.sum())
        facets = (self._facets(pos if matched is None else pos[matched]) if q.facets else {})
        start = (q.page - 1) * q.page_size
        page = range(start, min(start + q.page_size, len(pos)))
        hits = []
        for i in page:
            hits.append(self._hit(int(pos[i]), float(score[i]),
                                  {k: round(float(v[i]), 6) for k, v in parts.items() if v[i] != 0}))
        return SearchResult(
            hits=hits, total=total, related=len(pos) - total, page=q.page, page_size=q.page_size, facets=facets,
            intent=intent.to_dict() if intent is not None else None,
            profile=profile.to_dict() if profile is not None else None,
            took_ms=round((time.perf_counter() - t0) * 1000, 2),
        )

    def _sure_mask(self, intent, image_only: bool, photo: bool, filters) -> np.ndarray | None:
        """Products with every attribute the text names for sure (type first; colour and
        gender where some remain), over the whole index; None without a sure type. A
        field the shopper filters on explicitly is the filter's, not the parser's."""
        if (intent is None or not intent.types or image_only or filters.type
                or not self._facet_like("type")):
            return None
        if photo and not (getattr(intent, "photo", False) and (intent.colours or intent.genders
                                                               or intent.price_max is not None)):
            return None  # a photo alone (or more like this) keeps its own neighbours
        m = np.isin(self.index.column("type"), intent.types)
        for name, wanted in (("colour", intent.colours), ("gender", intent.genders)):
            if wanted and not getattr(filters, name) and self._facet_like(name):
                narrower = m & np.isin(self.index.column(name), wanted)
                if narrower.any():
                    m = narrower
        return m if m.any() else None

    def _matched(self, q: Query, sure: np.ndarray | None, pos: np.ndarray, parts: dict[str, np.ndarray],
                 image_only: bool, photo: bool) -> tuple[np.ndarray | None, bool]:
        """Which candidates match the query, for the total and the facets (the rest of the
        pool stays reachable after them as "also related"). With a sure intent (`sure`,
        from _sure_mask): the products that have it, listed first. Otherwise a relevance
        cut per retriever: text similarity or BM25 near the best (settings count_*).
        (None, False) keeps the whole pool: photo queries without words, browsing."""
        s = self.settings
        if not len(pos) or image_only or not q.text:
            return None, False
        if sure is not None and sure[pos].any():
            return sure[pos], True
        if photo:
            return None, False
        m = np.zeros(len(pos), bool)
        if "text_sim" in parts:
            m |= parts["text_sim"] >= s.count_text_sim
        if "bm25_score" in parts and parts["bm25_score"].max() > 0:
            m |= parts["bm25_score"] >= s.count_bm25_share * parts["bm25_score"].max()
        return (m, False) if m.any() else (None, False)

    def similar(self, product_id: str, page_size: int = 20, page: int = 1) -> SearchResult:
        """More like this: the product's own photo (visual vector) and caption vector."""
        with self.index.pinned():
            return self._similar(product_id, page_size, page)

    def _similar(self, product_id: str, page_size: int, page: int) -> SearchResult:
        pos = self.index.position(product_id)
        if pos is None:
            raise KeyError(product_id)
        v = self.index.vector(pos, "visual")
        a = self.index.vector(pos, "image")
        if v is None:  # no photo: fall back to the text vector
            t = self.index.vector(pos, "text")
            res = self._vector_search({"text": (t, "text")}, page_size + 1, page)
        else:  # look-alikes: the photo's vectors, plus the product's own type, colour family and gender
            p = self.index.product(pos)
            intent = self.parse(" ".join(x for x in (p.gender, p.colour, p.type) if x)) if (p.type or p.colour) else None
            res = self.search(Query(page_size=page_size + 1, page=page), image_vectors=(a, v), intent=intent)
        res.hits = [h for h in res.hits if h.id != product_id][:page_size]
        return res

    # -- helpers -------------------------------------------------------------------
    def _hit(self, pos: int, score: float, parts: dict[str, float]) -> Hit:
        p = self.index.product(pos)
        return Hit(id=p.id, title=p.title, score=round(score, 6), parts=parts, type=p.type, colour=p.colour,
                   gender=p.gender, brand=p.brand, price=p.price, attrs=p.attrs, has_image=bool(p.image))

    def _vector_search(self, vecs: dict, page_size: int, page: int) -> SearchResult:
        t0 = time.perf_counter()
        channels = {k: self.index.dense(v, f, self.settings.candidates) for k, (v, f) in vecs.items()}
        pos, score, parts = fuse(channels, {}, "rrf", self.settings.rrf_k)
        order = np.argsort(-score, kind="stable")
        pos, score = pos[order], score[order]
        start = (page - 1) * page_size
        hits = []
        for i in range(start, min(start + page_size, len(pos))):
            hits.append(self._hit(int(pos[i]), float(score[i]), {}))
        return SearchResult(hits=hits, total=len(pos), page=page, page_size=page_size,
                            facets=self._facets(pos), took_ms=(time.perf_counter() - t0) * 1000)

    def _col(self, name: str, image_only: bool) -> np.ndarray:
        return self.index.column(f"pred:{name}" if image_only else name)

    def _intent_scores(self, intent, pos: np.ndarray, image_only: bool, weight: float, loglinear: bool = False):
        """Bounded boost: weight x (fraction of named attributes the product has);
        a penalty of the same size for each negated attribute it has. `loglinear` (words
        against photos only): weight x T x the sum of log(1 + p / floor) over the named
        attributes instead, so a photo must look like all of them (settings)."""
        s = self.settings
        named = [("type", intent.types), ("colour", intent.colours), ("gender", intent.genders)]
        if image_only:  # a brand only the photo can tell (the brand head)
            named.append(("brand", intent.brands))
        named = [(n, dict.fromkeys(v, 1.0)) for n, v in named if v]
        weak = getattr(intent, "weak", None) or {}
        named += [(n, dict(vals)) for n, vals in weak.items() if vals and n in ("type", "colour", "gender")
                  and n not in {m for m, _ in named}]  # a weak mapping boosts in proportion to its confidence
        boost = None
        if named and weight > 0:
            hit = np.zeros(len(pos))
            shares = {n: getattr(s, f"attribute_share_{n}") * (1.0 if n == "brand" else self._facet_like(n))
                      for n, _ in named}
            norm = sum(shares.values()) or 1.0
            for name, wanted in named:
                share = shares[name] / norm
                if loglinear:
                    if shares[name] > 0:
                        hit += photo_evidence(np.fromiter((self._predicted_p(int(x), name, wanted) for x in pos),
                                                          float, len(pos)), s)
                elif image_only:  # soft evidence: the image tower's probability of a wanted label
                    hit += share * np.fromiter((self._predicted_p(int(p), name, wanted) for p in pos), float, len(pos))
                else:  # the product's own attribute; its photo's evidence where the text has none
                    col = self._col(name, image_only)[pos]
                    own = np.fromiter((wanted.get(c, 0.0) for c in col), float, len(pos))
                    blank = np.flatnonzero(~col.astype(bool))  # no own label ("" or None): the photo's evidence
                    own[blank] = [self._predicted_p(int(pos[i]), name, wanted) for i in blank]
                    hit += share * own
            boost = weight * hit
        if (intent.price_min is not None or intent.price_max is not None) and not image_only:
            price = self.index.column("price")[pos]
            ok = np.isfinite(price)
            if intent.price_min is not None:
                ok &= price >= intent.price_min
            if intent.price_max is not None:
                ok &= price <= intent.price_max
            boost = (boost if boost is not None else 0) + weight * ok
        neg = [("type", set(intent.negated_types)), ("colour", set(intent.negated_colours)),
               ("usage", set(getattr(intent, "negated_usages", []) or []))]
        penalty = None
        for name, bad in neg:
            if bad and self._facet_like(name):
                col = self._col(name, image_only)[pos]
                hitn = np.fromiter((c in bad for c in col), bool, len(pos))
                penalty = (penalty if penalty is not None else 0) + 2 * weight * hitn
        terms = {t for term in (intent.negated_terms or []) for t in tokenize(term)}
        if terms and not image_only:  # "without logo": only the title speaks for the product
            titles = self.index.column("title")[pos]
            hitn = np.fromiter((bool(terms & set(tokenize(t))) for t in titles), bool, len(pos))
            penalty = (penalty if penalty is not None else 0) + 0.5 * weight * hitn
        return boost, penalty

    def _tuned_weights(self, q: Query, intent) -> dict[str, float]:
        """Weights learned by `shopsearch tune` for this kind of query, if any."""
        gen = self.index.generation()
        if getattr(self, "_tuned_gen", None) != gen:
            self._tuned = self.index.get_meta("fusion_weights") or {}
            self._tuned_gen = gen
        if not self._tuned:
            return {}
        from shopsearch.ranking.tune import query_type

        return self._tuned.get(query_type(q, intent), {})

    def _modifiers(self):
        """Score modifiers: the index's own list, else the settings' default."""
        from shopsearch.ranking.modifiers import Modifier

        gen = self.index.generation()
        if getattr(self, "_mods_gen", None) != gen:
            raw = self.index.get_meta("score_modifiers")
            self._mods = [Modifier.parse(d) for d in (raw if raw is not None else self.settings.score_modifiers)]
            self._mods_gen = gen
        return self._mods

    def _profile(self, session: str):
        """The session's profile from its events (view, click, add to cart, purchase)."""
        from shopsearch.ranking.personal import build_profile

        evs = []
        for e in self.events.for_session(session):
            ts = getattr(e, "ts", None)
            ts = ts.timestamp() if hasattr(ts, "timestamp") else float(ts or time.time())
            evs.append((ts, getattr(e, "type", ""), getattr(e, "product_id", None)))
        return build_profile(evs, self.index, self.settings.personal_half_life_s) if evs else None

    @staticmethod
    def _retrieval_text(text: str, intent) -> str:
        """What the retrievers see. Chinese: the parser's English rendering. Otherwise
        the query as typed with typos fixed: negated words stay, because products
        say "without straw" too (ESCI recall fell 0.92 -> 0.88 when they were cut);
        negations act as penalties instead."""
        if intent.language != "en":
            return intent.normalized
        extra = [e for e in (getattr(intent, "expansions", None) or []) if e not in text.lower()]
        if extra:  # the catalogue's words for words it never uses ("parka" -> jackets)
            text = f"{text} {' '.join(extra)}"
        if not intent.corrections:
            return text
        import re

        fixed = text
        for wrong, right in intent.corrections.items():
            fixed = re.sub(rf"\b{re.escape(wrong)}\b", right, fixed, flags=re.IGNORECASE)
        return fixed

    def _brands(self, text: str | None) -> list[str]:
        """Brands the image tower's brand head knows that the query names ("puma" in "Puma Men Black Shoes")."""
        if not text:
            return []
        if getattr(self, "_brand_matcher", None) is None:
            from shopsearch.catalog.brand import BrandMatcher

            self._brand_matcher = BrandMatcher(getattr(self.encoder, "brand_words", list)())
        return self._brand_matcher.find(text)

    def _borrowed_words(self, text: str, pos: np.ndarray) -> np.ndarray | None:
        """T x photo_words x the weight of the query's words among those each photo borrowed
        from its nearest training photos' titles (visual.Words); None if no photo has any."""
        terms = set(tokenize(text))
        if not terms:
            return None
        got = borrowed_words(terms, (self.index.predicted(int(x)).get("words", {}) for x in pos), self.settings)
        return got if got.any() else None

    def _predicted_p(self, pos: int, name: str, wanted) -> float:
        """Probability, by the image tower's attribute head, that the photo shows a wanted value
        (`wanted`: values, or value -> confidence of the mapping that asked for it)."""
        probs = self.index.predicted(pos).get("p", {}).get(name, {})
        if isinstance(wanted, dict):
            return float(sum(probs.get(w, 0.0) * c for w, c in wanted.items()))
        return float(sum(probs.get(w, 0.0) for w in wanted))

    def _facet_like(self, name: str) -> float:
        """1.0 when a field has few distinct values per product (a real facet), else 0.0."""
        gen = self.index.generation()
        cache = getattr(self, "_facet_cache", None)
        if cache is None or cache[0] != gen:
            cache = self._facet_cache = (gen, {})
        if name not in cache[1]:
            col = [c for c in self.index.column(name) if c]
            distinct = len(set(col))
            ratio = distinct / len(col) if col else 1.0
            small = distinct <= 60 and ratio <= 0.5  # a small shop's short list of types
            cache[1][name] = 1.0 if col and (ratio <= self.settings.facet_like_ratio or small) else 0.0
        return cache[1][name]

    def _token_hits(self, terms: list[str], pos: np.ndarray) -> np.ndarray:
        c = self.index.bm25(terms, len(self.index.ids()))
        hit = set(int(p) for p in c.pos)
        return np.fromiter((int(p) in hit for p in pos), bool, len(pos))

    def _negative(self, negative: str, pos: np.ndarray, image_only: bool) -> np.ndarray:
        s = self.settings
        nv = self.encoder.encode_text([negative])[0]
        field = "image" if image_only else "text"
        sim = self.index.dense_scores(nv, field, pos)
        pen = s.negative_penalty * np.clip(sim, 0, 1)
        if not image_only:
            pen = pen + 2 * s.attribute_boost * self._token_hits(tokenize(negative), pos)
        return pen

    def _sort(self, sort: str, pos: np.ndarray, score: np.ndarray) -> np.ndarray:
        if sort == "relevance" or len(pos) == 0:
            return np.lexsort((pos, -score))
        if sort in ("price_asc", "price_desc"):
            price = self.index.column("price")[pos]
            key = np.where(np.isfinite(price), price if sort == "price_asc" else -price, np.inf)
            return np.lexsort((-score, key))
        titles = self.index.column("title")[pos]
        return np.argsort(np.array([t.lower() for t in titles]), kind="stable")

    def _facets(self, pos: np.ndarray, top: int = 30) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        if len(pos) == 0:
            return {f: {} for f in FACET_FIELDS}
        for name in FACET_FIELDS:
            vals, counts = np.unique(self.index.column(name)[pos].astype(str), return_counts=True)
            order = np.argsort(-counts, kind="stable")
            d = {str(vals[i]): int(counts[i]) for i in order if vals[i]}
            if d:
                out[name] = dict(list(d.items())[:top])
        price = self.index.column("price")[pos]
        known = price[np.isfinite(price)]
        if len(known):
            buckets = {}
            for lo, hi in PRICE_BUCKETS:
                n = int(((known >= lo) & ((known < hi) if hi is not None else True)).sum())
                if n:
                    buckets[f"{lo}-{hi}" if hi is not None else f"{lo}+"] = n
            out["price"] = buckets
        return out

    def stats(self) -> dict:
        ix = self.index
        return {
            "products": ix.count(),
            "with_image": int(getattr(ix, "has_vector", lambda f: np.zeros(0))("image").sum()) if ix.count() else 0,
            "schema_version": ix.get_meta("schema_version"),
            "encoder": ix.get_meta("encoder"),
            "text_encoder": ix.get_meta("text_encoder"),
            "image_encoder": ix.get_meta("image_encoder"),
            "backend": type(ix).__name__,
            "location": ix.location,
        }
