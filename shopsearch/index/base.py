"""The narrow index interface: write products with vectors, read them back, and
answer the three retrieval primitives (BM25, dense, filter mask) the engine fuses.

Kept small on purpose so a server backend (Milvus) can implement the same calls."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from shopsearch.index.lexical import tokenizer
from shopsearch.schema import SCHEMA_VERSION, Filters, Product
from shopsearch.settings import Settings, get_settings

log = logging.getLogger(__name__)


class IndexMismatch(RuntimeError):
    """The index was written by another schema version or model than this process
    would read or query it with: refuse, and say what to run, rather than answer
    with vectors from two different spaces."""


def check_schema(index: "Index") -> None:
    """Stamp a new index with our schema version and tokenizer; refuse one stamped with others."""
    check_tokenizer(index)
    found = index.get_meta("schema_version")
    if found is None:
        index.set_meta("schema_version", SCHEMA_VERSION)
        return
    if found != SCHEMA_VERSION:
        newer = isinstance(found, int) and found > SCHEMA_VERSION
        raise IndexMismatch(
            f"index {index.location} has schema version {found}; this Shopsearch reads version {SCHEMA_VERSION}. "
            + ("Upgrade Shopsearch (pip install -U shopsearch) to open it, or rebuild it"
               if newer else "Rebuild it") + ": shopsearch ingest CATALOGUE --images DIR --index NEW_FOLDER")


def check_tokenizer(index: "Index") -> None:
    """BM25 tokens are stored at ingest and made again for every query: both must come from
    the same tokenizer and dictionary (index/lexical.py), or an index misses its own words.
    A new index records the tokenizer's id; one recorded with another is refused."""
    mine = tokenizer().id
    found = index.get_meta("tokenizer")
    if found is None:
        if index.get_meta("schema_version") is None:  # a new index
            index.set_meta("tokenizer", mine)
        else:
            log.info("index %s predates recorded tokenizers; queries use %s", index.location, mine)
        return
    if found != mine:
        raise IndexMismatch(
            f"index {index.location} was tokenized with {found}, but this process tokenizes with {mine}: "
            f"queries would miss the index's own words. Rebuild it: shopsearch ingest CATALOGUE --index NEW_FOLDER")


@dataclass
class Record:
    """A product as stored: the product, its content hash and its vectors."""

    product: Product
    hash: str
    text_vec: np.ndarray
    image_vec: np.ndarray | None = None
    visual_vec: np.ndarray | None = None
    predicted: dict[str, str] = field(default_factory=dict)  # attribute evidence from the image tower


@dataclass
class Candidates:
    """Row positions and scores from one retriever, best first."""

    pos: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> "Candidates":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.float32))


VectorField = str  # "text" | "image" | "visual"


class Index(ABC):
    """One catalogue's searchable store."""

    location: str

    # -- writing ---------------------------------------------------------
    @abstractmethod
    def upsert(self, records: Sequence[Record]) -> None:
        """Insert or replace products; durable when it returns."""

    @abstractmethod
    def delete(self, ids: Iterable[str]) -> int:
        """Remove products by id; returns how many existed."""

    @abstractmethod
    def hashes(self) -> dict[str, str]:
        """id -> content hash of every stored product (lets ingest resume and skip unchanged rows)."""

    @abstractmethod
    def get_meta(self, key: str, default=None): ...

    @abstractmethod
    def set_meta(self, key: str, value) -> None: ...

    # -- reading ---------------------------------------------------------
    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def ids(self) -> list[str]:
        """Product ids by row position (positions are what retrievers return)."""

    @abstractmethod
    def position(self, product_id: str) -> int | None: ...

    @abstractmethod
    def product(self, pos: int) -> Product: ...

    @abstractmethod
    def predicted(self, pos: int) -> dict[str, str]: ...

    @abstractmethod
    def vector(self, pos: int, field: VectorField) -> np.ndarray | None: ...

    @abstractmethod
    def bm25(self, tokens: list[str], k: int, mask: np.ndarray | None = None) -> Candidates: ...

    @abstractmethod
    def dense(self, vec: np.ndarray, field: VectorField, k: int, mask: np.ndarray | None = None) -> Candidates: ...

    @abstractmethod
    def dense_scores(self, vec: np.ndarray, field: VectorField, pos: np.ndarray) -> np.ndarray:
        """Exact similarity of given rows (used to score candidates from other retrievers)."""

    @abstractmethod
    def mask(self, filters: Filters) -> np.ndarray | None:
        """Boolean row mask for hard filters (None when there are none)."""

    @abstractmethod
    def column(self, name: str) -> np.ndarray:
        """A facet/sort column by row position: type, colour, gender, brand (str) or price (float)."""

    def pinned(self):
        """A context in which this thread reads one consistent view (backends that
        swap views in the background pin one per search)."""
        return nullcontext()

    def generation(self) -> int:
        """A number that changes with every write (caches key on it)."""
        return int(self.get_meta("generation", 0) or 0)

    def meta_generation(self) -> int:
        """The write generation as stored now, for what lives in the metadata only (rules,
        synonyms): a change there is seen at once, without waiting for a new view."""
        return self.generation()

    def close(self) -> None:  # pragma: no cover - default no-op
        pass


class MetaList:
    """A list of models with an `id` kept in one index metadata key (the operator's rules,
    synonym sets): every serving process reads the same list at its next view."""

    def __init__(self, index: "Index", key: str, model) -> None:
        self.index, self.key, self.model = index, key, model

    def all(self) -> list:
        out = []
        for d in self.index.get_meta(self.key) or []:
            try:
                out.append(self.model.model_validate(d))
            except ValueError as e:  # written by another version, or by hand: skipped, not fatal
                log.warning("index %s: %s entry %r skipped: %s", self.index.location, self.key, d, e)
        return out

    def save(self, item) -> bool:
        """Create or replace by id; True if it replaced one."""
        items = self.all()
        keep = [x for x in items if x.id != item.id]
        self.index.set_meta(self.key, [x.model_dump(mode="json") for x in keep + [item]])
        return len(keep) < len(items)

    def delete(self, item_id: str) -> bool:
        items = self.all()
        keep = [x for x in items if x.id != item_id]
        if len(keep) == len(items):
            return False
        self.index.set_meta(self.key, [x.model_dump(mode="json") for x in keep])
        return True


def filter_mask(index: "Index", filters: Filters, pos_of: dict[str, int]) -> np.ndarray:
    """The hard filters as a row mask over an index's columns (case-blind values,
    inclusive price bounds, id lists); shared by every backend."""
    n = len(pos_of)
    m = np.ones(n, bool)
    checks = [(name, getattr(filters, name)) for name in ("type", "colour", "gender", "brand")]
    for name, values in checks + list(filters.attrs.items()):
        wanted = {v.lower() for v in values}
        if wanted:
            m &= np.array([v.lower() in wanted for v in index.column(name)], bool)
    price = index.column("price")
    if filters.price_min is not None:
        m &= price >= filters.price_min
    if filters.price_max is not None:
        m &= price <= filters.price_max
    if filters.ids:
        idm = np.zeros(n, bool)
        for i in filters.ids:
            if (p := pos_of.get(str(i))) is not None:
                idm[p] = True
        m &= idm
    return m


def open_index(location: str | Path, create: bool = False, token: str | None = None,
               settings: Settings | None = None) -> Index:
    """The factory: a local folder opens the embedded backend, an http(s) URI a Milvus
    server; either reads its tunables (nprobe, re-rank depth, ...) from `settings`.
    (Backends are imported here, not at the top: the Milvus client is an optional extra.)"""
    s = settings or get_settings()
    loc = str(location)
    if loc.startswith(("http://", "https://", "tcp://", "grpc://")):
        from shopsearch.index.milvus import MilvusIndex  # type: ignore[import-not-found]

        return MilvusIndex(loc, token=token or s.milvus_token, create=create, settings=s)
    from shopsearch.index.embedded import EmbeddedIndex

    return EmbeddedIndex(Path(loc), create=create, settings=s)
