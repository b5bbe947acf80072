"""Stage 2, retrieve: each retriever's best candidates (row positions and scores).

Text: BM25, dense text-to-text, dense text-to-photo. Photo: the visual vector
(photo-to-photo), the aligned vector (photo-to-photo and photo-to-text). A sure
intent adds a weightless channel that makes every product with it reachable."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shopsearch.index.base import Candidates
from shopsearch.index.lexical import tokenize
from shopsearch.search.context import SearchContext
from shopsearch.search.plan import Plan


@dataclass
class Retrieved:
    channels: dict[str, Candidates]  # retriever -> candidates
    vectors: dict[str, tuple[np.ndarray, str]]  # dense retriever -> (query vector, index field)
    weights: dict[str, float]  # the plan's weights, plus 0 for the weightless intent channel


def retrieve(ctx: SearchContext, plan: Plan) -> Retrieved:
    ix, s, w = ctx.index, ctx.settings, dict(plan.weights)
    K, mask = s.candidates, plan.mask
    channels: dict[str, Candidates] = {}
    vecs: dict[str, tuple[np.ndarray, str]] = {}
    if plan.text or plan.text_vector is not None:
        # a channel weighted 0 is dropped below: skip its search (and the query's encoding if none needs it)
        dense_text = not plan.image_only and w["text"] > 0
        qv = plan.text_vector
        if qv is None and (dense_text or w["image"] > 0):
            qv = ctx.encoder.encode_text([plan.text])[0]
        if plan.text and not plan.image_only and w["bm25"] > 0:
            channels["bm25"] = ix.bm25(tokenize(plan.text), K, mask)
        if dense_text:
            channels["text"] = ix.dense(qv, "text", K, mask)
            vecs["text"] = (qv, "text")
        if w["image"] > 0 and plan.text:
            channels["image"] = ix.dense(qv, "image", K, mask)
            vecs["image"] = (qv, "image")
    if plan.photo is not None:
        a, v = plan.photo
        channels["visual"] = ix.dense(v, "visual", K, mask)
        vecs["visual"] = (v, "visual")
        if w["photo_image"] > 0:
            channels["photo_image"] = ix.dense(a, "image", K, mask)
            vecs["photo_image"] = (a, "image")
        if not plan.image_only:
            channels["photo_text"] = ix.dense(a, "text", K, mask)
            vecs["photo_text"] = (a, "text")
    channels = {k: c for k, c in channels.items() if w.get(k, 1.0) > 0}
    reach = "visual" if "visual" in vecs else "text" if "text" in vecs else None
    if plan.sure is not None and channels and reach:
        # every product of the sure type (colour, gender) can be reached, not only those
        # another retriever happened to bring: candidates with no weight of their own
        vec, field = vecs[reach]
        channels["intent"] = ix.dense(vec, field, K, plan.sure if mask is None else plan.sure & mask)
        w["intent"] = 0.0
    return Retrieved(channels, vecs, w)
