"""Data shapes that cross package boundaries: products, queries and results.

Pydantic models so the CLI, the Python API and the HTTP API validate the same way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

SCHEMA_VERSION = 1

# Fields with a meaning of their own; any other catalogue column is kept in `attrs`.
CORE_FIELDS = ("id", "title", "description", "type", "colour", "gender", "brand", "price", "image")
FACET_FIELDS = ("type", "colour", "gender", "brand")


class Product(BaseModel):
    """One catalogue item in the engine's schema."""

    # An id names the product in URLs (/products/{id}) and files: no slashes, no
    # control characters, not absurdly long.
    id: str = Field(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f\x7f]+$")
    title: str
    description: str = ""
    type: str = ""
    colour: str = ""
    gender: str = ""
    brand: str = ""
    price: float | None = None
    image: str | None = None  # absolute path to the photo on disk, if any
    attrs: dict[str, str] = Field(default_factory=dict)

    def field(self, name: str) -> Any:
        """A core field or an extra attribute by name (used by filters and facets)."""
        if name in CORE_FIELDS:
            return getattr(self, name)
        return self.attrs.get(name)

    def caption(self) -> str:
        """The text that stands for the product in the dense text space.

        Attributes first, then the title: the same shape the image tower was trained
        to match, so text and image vectors live in one space.
        """
        head = " ".join(v for v in (self.gender, self.colour, self.type) if v)
        parts = [head + "." if head else "", self.title]
        if self.brand and self.brand.lower() not in self.title.lower():
            parts.append(self.brand)
        if self.description:
            parts.append(self.description[:300])
        return " ".join(p for p in parts if p).strip()

    def lexical_text(self) -> str:
        """Everything BM25 may match: title, attributes, brand, description."""
        extra = " ".join(self.attrs.values())
        return " ".join(
            v for v in (self.title, self.type, self.colour, self.gender, self.brand, extra, self.description) if v
        )


class Filters(BaseModel):
    """Hard filters. Lists mean "any of"; price bounds are inclusive."""

    type: list[str] = Field(default_factory=list)
    colour: list[str] = Field(default_factory=list)
    gender: list[str] = Field(default_factory=list)
    brand: list[str] = Field(default_factory=list)
    price_min: float | None = None
    price_max: float | None = None
    attrs: dict[str, list[str]] = Field(default_factory=dict)
    ids: list[str] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not (
            self.type or self.colour or self.gender or self.brand or self.attrs or self.ids
            or self.price_min is not None or self.price_max is not None
        )


class Weights(BaseModel):
    """Per-part weights of the fused score; None takes the index default."""

    bm25: float | None = None
    text: float | None = None
    image: float | None = None
    visual: float | None = None
    photo_image: float | None = None
    photo_text: float | None = None
    attributes: float | None = None


Field_ = Literal["text", "image"]


class Query(BaseModel):
    """One search request: any mix of text, images and filters."""

    text: str | None = None
    images: list[Any] = Field(default_factory=list)  # paths on disk, PIL images or raw bytes
    negative: str | None = None
    filters: Filters = Field(default_factory=Filters)
    weights: Weights = Field(default_factory=Weights)
    fusion: Literal["rrf", "weighted"] | None = None
    fields: list[Field_] | None = None  # ["image"]: match product photos only
    sort: Literal["relevance", "price_asc", "price_desc", "title"] = "relevance"
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=20, ge=1, le=1000)
    understand: bool = True  # parse colour/type/gender/price into boosts
    strict: bool = False  # turn parsed attributes into hard filters instead of boosts
    facets: bool = True
    session: str | None = None  # the shopper's session id: personalises when events exist
    personalize: bool = True
    # A ranking configuration of its own (an A/B test's arm): score modifiers in place of the
    # index's, and whether the merchandising rules apply. Fusion weights ride in `weights`/`fusion`.
    modifiers: list[dict[str, Any]] | None = None
    rules: bool = True

    @field_validator("text", "negative")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        v = (v or "").strip()
        return v or None

    def image_only(self) -> bool:
        return self.fields is not None and list(self.fields) == ["image"]


class Hit(BaseModel):
    id: str
    title: str
    score: float
    parts: dict[str, float] = Field(default_factory=dict)
    type: str = ""
    colour: str = ""
    gender: str = ""
    brand: str = ""
    price: float | None = None
    attrs: dict[str, str] = Field(default_factory=dict)
    has_image: bool = False
    rules: list[str] = Field(default_factory=list)  # merchandising rules that placed or moved it


class SearchResult(BaseModel):
    hits: list[Hit]
    total: int  # products that match the query (search/fuse.py, matched)
    related: int = 0  # more candidates after them, reachable by paging ("also related")
    page: int
    page_size: int
    facets: dict[str, dict[str, int]] = Field(default_factory=dict)
    intent: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None  # the session profile that re-ranked the results
    rules: list[str] = Field(default_factory=list)  # merchandising rules this query matched
    # The words matched no product (no relevance cut passed): `total` is then the whole pool,
    # shown as a fallback, and analytics count the search as a zero-result one.
    no_match: bool = False
    took_ms: float = 0.0
