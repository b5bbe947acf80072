"""What crosses the HTTP boundary: request and response models, converted once to and
from the engine's own `Query` and `SearchResult`."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from shopsearch.schema import Filters, Query, SearchResult, Weights


class SearchRequest(BaseModel):
    """The JSON body of POST /search (also the `query` field of a multipart search)."""

    text: str | None = Field(default=None, max_length=1000)
    negative: str | None = Field(default=None, max_length=1000)
    filters: Filters = Field(default_factory=Filters)
    weights: Weights = Field(default_factory=Weights)
    fields: list[Literal["text", "image"]] | None = None
    sort: Literal["relevance", "price_asc", "price_desc", "title"] = "relevance"
    page: int = Field(default=1, ge=1, le=10_000)
    page_size: int = Field(default=20, ge=1, le=200)
    session: str | None = Field(default=None, max_length=128)
    personalize: bool = True
    strict: bool = False
    language: Literal["en", "zh", "auto"] | None = None  # for a spoken query; default from settings

    def to_query(self, images: list | None = None, spoken: str | None = None) -> Query:
        """The engine's query: the typed words and what was heard, the photos (uploads and a video's frames)."""
        text = " ".join(t for t in (self.text, spoken) if t) or None
        fields = self.model_dump(include={"negative", "fields", "sort", "page", "page_size", "session",
                                          "personalize", "strict"})
        return Query(text=text, images=images or [], filters=self.filters, weights=self.weights, **fields)


class ApiHit(BaseModel):
    id: str
    title: str
    score: float
    parts: dict[str, float]
    type: str
    colour: str
    gender: str
    brand: str
    price: float | None
    attrs: dict[str, str]
    image_url: str | None
    rules: list[str] = []  # merchandising rules that placed or moved it


class ApiResult(BaseModel):
    query_id: str
    hits: list[ApiHit]
    total: int  # products that match the query
    related: int = 0  # more candidates after them, reachable by paging
    page: int
    page_size: int
    facets: dict[str, dict[str, int]]
    intent: dict[str, Any] | None
    profile: dict[str, Any] | None
    transcript: str | None = None
    took_ms: float
    rules: list[str] = []  # merchandising rules this query matched
    no_match: bool = False  # the words matched nothing: the hits are only the nearest products

    @classmethod
    def of(cls, res: SearchResult, transcript: str | None = None) -> "ApiResult":
        return cls(
            query_id=uuid.uuid4().hex, total=res.total, related=res.related, page=res.page,
            page_size=res.page_size, facets=res.facets, intent=res.intent, profile=res.profile,
            took_ms=res.took_ms, transcript=transcript, rules=res.rules, no_match=res.no_match,
            hits=[ApiHit(id=h.id, title=h.title, score=h.score, parts=h.parts, type=h.type, colour=h.colour,
                         gender=h.gender, brand=h.brand, price=h.price, attrs=h.attrs,
                         image_url=f"/images/{h.id}" if h.has_image else None, rules=h.rules) for h in res.hits],
        )


class EventIn(BaseModel):
    type: Literal["view", "click", "add_to_cart", "purchase"]
    session_id: str = Field(min_length=1, max_length=128)
    user_id: str | None = Field(default=None, max_length=128)
    product_id: str | None = None
    query_id: str | None = None
    query_text: str | None = Field(default=None, max_length=1024)
    position: int | None = Field(default=None, ge=1)


def error_line(e: ValidationError) -> str:
    """Pydantic's errors as one readable line: `field.path: message; ...`."""
    return "; ".join(f"{'.'.join(map(str, x['loc'])) or 'body'}: {x['msg']}" for x in e.errors())
