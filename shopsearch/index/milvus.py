"""The Milvus backend, for catalogues that outgrow one machine: the same `Index`
interface over `pymilvus`, so ingest, hybrid search, BM25, filters, facets,
upsert and delete work unchanged with `--index http://host:19530[/collection]`.

- One collection per index: scalar fields for filters and facets, the product
  record as JSON, three dense vector fields (HNSW by default) and BM25 through a
  Milvus BM25 function over our own jieba/stemmed tokens (so Chinese matches the
  same way as in the embedded backend). A small `<name>_meta` collection holds
  the index metadata.
- The engine addresses products by position: this process keeps a snapshot of
  ids and scalar columns (refreshed when the write generation changes); vectors
  and BM25 stay in Milvus and are searched there with filter expressions.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence
from urllib.parse import urlparse

import numpy as np

from shopsearch.index.base import Candidates, Index, Record, VectorField, check_schema, filter_mask
from shopsearch.index.lexical import tokenize
from shopsearch.schema import Filters, Product
from shopsearch.settings import Settings, get_settings

log = logging.getLogger(__name__)
SCALARS = ("type", "colour", "gender", "brand")
RECHECK_S = 1.0
BATCH = 500
# Metadata values longer than this many characters are stored in parts (a character is at
# most 4 bytes in UTF-8, so a part stays under the 65,535-byte VARCHAR limit)
META_PART = 16_000
META_SEP = "#part"  # meta keys never hold "#"
META_CHUNKS = "__parts__"


class FilterMask(np.ndarray):
    """A boolean row mask that also carries the Milvus filter expression it stands for."""

    expr: str | None = None


def _quote(v: str) -> str:
    return json.dumps(str(v), ensure_ascii=False)


def filter_expr(f: Filters) -> str | None:
    parts = []
    for name in SCALARS:
        vals = getattr(f, name)
        if vals:
            parts.append(f"{name} in [{', '.join(_quote(v) for v in vals)}]")
    if f.price_min is not None:
        parts.append(f"price >= {float(f.price_min)}")
    if f.price_max is not None:
        parts.append(f"price <= {float(f.price_max)}")
    if f.ids:
        parts.append(f"id in [{', '.join(_quote(i) for i in f.ids)}]")
    return " and ".join(parts) or None


@dataclass
class _Snap:
    ids: list[str]
    pos_of: dict[str, int]
    docs: list[str]
    predicted: list[dict]
    columns: dict[str, np.ndarray]
    has: dict[str, np.ndarray]
    products: dict[int, Product] = field(default_factory=dict)
    vectors: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)


class MilvusIndex(Index):
    def __init__(self, uri: str, token: str | None = None, create: bool = False, index_type: str = "HNSW",
                 index_params: dict | None = None, settings: Settings | None = None) -> None:
        from pymilvus import MilvusClient

        self.settings = settings or get_settings()
        u = urlparse(uri)
        self.name = (u.path.strip("/") or "shopsearch").replace("/", "_")
        self.location = uri
        base = f"{u.scheme}://{u.netloc}"
        self.client = MilvusClient(uri=base, token=token or "")
        self.meta_name = f"{self.name}_meta"
        self.index_type = index_type
        self.index_params = index_params or ({"M": 32, "efConstruction": 128} if index_type == "HNSW" else {"nlist": 1024})
        self._lock = threading.RLock()
        self._snap: _Snap | None = None
        self._gen_seen = -1
        self._checked = 0.0
        if not self.client.has_collection(self.meta_name):
            if not create:
                raise FileNotFoundError(f"No index {self.name!r} at {base}: run `shopsearch ingest CATALOGUE --index {uri}` first")
            self._create_meta()
        self.client.load_collection(self.meta_name)
        check_schema(self)

    # -- collections -------------------------------------------------------------
    def _create_meta(self) -> None:
        from pymilvus import DataType, MilvusClient

        s = MilvusClient.create_schema(auto_id=False)
        s.add_field("key", DataType.VARCHAR, is_primary=True, max_length=256)
        s.add_field("value", DataType.VARCHAR, max_length=65535)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs a vector field
        ip = self.client.prepare_index_params()
        ip.add_index(field_name="v", index_type="FLAT", metric_type="L2")
        self.client.create_collection(self.meta_name, schema=s, index_params=ip)

    def _create_products(self, dims: dict[str, int]) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        s = MilvusClient.create_schema(auto_id=False)
        s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
        s.add_field("doc", DataType.VARCHAR, max_length=65535)
        s.add_field("hash", DataType.VARCHAR, max_length=64)
        s.add_field("tokens", DataType.VARCHAR, max_length=65535, enable_analyzer=True,
                    analyzer_params={"tokenizer": "standard"})
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_field("predicted", DataType.VARCHAR, max_length=16384)
        for name in SCALARS:
            s.add_field(name, DataType.VARCHAR, max_length=512)
        s.add_field("price", DataType.DOUBLE, nullable=True)
        s.add_field("has_image", DataType.BOOL)
        for name in ("text", "image", "visual"):
            s.add_field(name, DataType.FLOAT_VECTOR, dim=dims[name])
        s.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["tokens"],
                                output_field_names=["sparse"]))
        ip = self.client.prepare_index_params()
        ip.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        for name in ("text", "image", "visual"):
            ip.add_index(field_name=name, index_type=self.index_type, metric_type="IP", params=self.index_params)
        self.client.create_collection(self.name, schema=s, index_params=ip)
        self.set_meta("dims", dims)

    def _exists(self) -> bool:
        return self.client.has_collection(self.name)

    # -- meta --------------------------------------------------------------------
    def get_meta(self, key: str, default=None):
        rows = self.client.query(self.meta_name, filter=f"key == {_quote(key)}", output_fields=["value"])
        if not rows:
            return default
        value = json.loads(rows[0]["value"])
        if isinstance(value, dict) and set(value) == {META_CHUNKS}:  # stored in parts: read them all
            n = int(value[META_CHUNKS])
            keys = [f"{key}{META_SEP}{i}" for i in range(n)]
            parts = {r["key"]: r["value"] for r in self.client.query(
                self.meta_name, filter=f"key in [{', '.join(map(_quote, keys))}]", output_fields=["key", "value"])}
            if len(parts) != n:
                raise RuntimeError(f"index metadata {key!r} is incomplete ({len(parts)} of {n} parts)")
            value = json.loads("".join(parts[k] for k in keys))
        return value

    def set_meta(self, key: str, value) -> None:
        """A value of any size: a large one (the vocabulary of a large catalogue) is split
        into parts under Milvus's VARCHAR limit, written before the row that names them."""
        text = json.dumps(value)
        if len(text) > META_PART:
            parts = [text[i : i + META_PART] for i in range(0, len(text), META_PART)]
            rows = [{"key": f"{key}{META_SEP}{i}", "value": p, "v": [0.0, 0.0]} for i, p in enumerate(parts)]
            for s in range(0, len(rows), 16):
                self.client.upsert(self.meta_name, rows[s : s + 16])
            text = json.dumps({META_CHUNKS: len(parts)})
        self.client.upsert(self.meta_name, [{"key": key, "value": text, "v": [0.0, 0.0]}])
        if key != "generation":
            self._bump()

    def _bump(self) -> None:
        gen = int(self.get_meta("generation", 0) or 0) + 1
        self.client.upsert(self.meta_name, [{"key": "generation", "value": json.dumps(gen), "v": [0.0, 0.0]}])
        self._snap = None

    def generation(self) -> int:
        self._snapshot()
        return self._gen_seen

    # -- writing -------------------------------------------------------------------
    def upsert(self, records: Sequence[Record]) -> None:
        if not records:
            return
        with self._lock:
            if not self._exists():
                t = len(records[0].text_vec)
                im = next((len(r.image_vec) for r in records if r.image_vec is not None), t)
                vi = next((len(r.visual_vec) for r in records if r.visual_vec is not None), t)
                self._create_products({"text": t, "image": im, "visual": vi})
            dims = self.get_meta("dims")
            rows = []
            for r in records:
                p = r.product
                rows.append({
                    "id": p.id, "doc": p.model_dump_json(), "hash": r.hash,
                    "tokens": " ".join(tokenize(p.lexical_text())) or "_",
                    "predicted": json.dumps(r.predicted or {}),
                    **{name: (getattr(p, name) or "")[:500] for name in SCALARS},
                    "price": p.price, "has_image": r.image_vec is not None,
                    "text": np.asarray(r.text_vec, np.float32).tolist(),
                    "image": (np.asarray(r.image_vec, np.float32) if r.image_vec is not None else np.zeros(dims["image"], np.float32)).tolist(),
                    "visual": (np.asarray(r.visual_vec, np.float32) if r.visual_vec is not None else np.zeros(dims["visual"], np.float32)).tolist(),
                })
            for s in range(0, len(rows), BATCH):
                self.client.upsert(self.name, rows[s : s + BATCH])
            self.client.flush(self.name)
            self._bump()

    def delete(self, ids: Iterable[str]) -> int:
        ids = [str(i) for i in ids]
        if not ids or not self._exists():
            return 0
        with self._lock:
            have = {r["id"] for r in self.client.query(self.name, filter=f"id in [{', '.join(map(_quote, ids))}]",
                                                       output_fields=["id"])}
            if have:
                self.client.delete(self.name, ids=list(have))
                self.client.flush(self.name)
            self._bump()
            return len(have)

    def _all(self, fields: list[str]) -> list[dict]:
        if not self._exists():
            return []
        self.client.load_collection(self.name)
        it = self.client.query_iterator(self.name, batch_size=2000, filter="", output_fields=fields)
        out = []
        while True:
            batch = it.next()
            if not batch:
                it.close()
                return out
            out.extend(batch)

    def hashes(self) -> dict[str, str]:
        return {r["id"]: r["hash"] for r in self._all(["id", "hash"])}

    # -- snapshot ------------------------------------------------------------------
    def _snapshot(self) -> _Snap:
        snap = self._snap
        if snap is not None and time.monotonic() - self._checked < RECHECK_S:
            return snap
        with self._lock:
            gen = int(self.get_meta("generation", 0) or 0)
            if self._snap is None or gen != self._gen_seen:
                rows = self._all(["id", "doc", "predicted", "price", "has_image", *SCALARS])
                rows.sort(key=lambda r: r["id"])
                docs = [r["doc"] for r in rows]
                cols = {k: np.array([r.get(k) or "" for r in rows], dtype=object) for k in SCALARS}
                cols["price"] = np.array([np.nan if r.get("price") is None else float(r["price"]) for r in rows])
                cols["title"] = np.array([json.loads(d).get("title", "") for d in docs], dtype=object)
                has_img = np.array([bool(r.get("has_image")) for r in rows], bool)
                self._snap = _Snap(ids=[r["id"] for r in rows], pos_of={r["id"]: i for i, r in enumerate(rows)},
                                   docs=docs, predicted=[json.loads(r.get("predicted") or "{}") for r in rows],
                                   columns=cols, has={"text": np.ones(len(rows), bool), "image": has_img, "visual": has_img})
                self._gen_seen = gen
            self._checked = time.monotonic()
            return self._snap

    # -- reading -------------------------------------------------------------------
    def count(self) -> int:
        return len(self._snapshot().ids)

    def ids(self) -> list[str]:
        return self._snapshot().ids

    def position(self, product_id: str) -> int | None:
        return self._snapshot().pos_of.get(str(product_id))

    def product(self, pos: int) -> Product:
        s = self._snapshot()
        p = s.products.get(pos)
        if p is None:
            p = s.products[pos] = Product.model_validate_json(s.docs[pos])
        return p

    def predicted(self, pos: int) -> dict:
        return self._snapshot().predicted[pos]

    def has_vector(self, field: VectorField) -> np.ndarray:
        return self._snapshot().has[field]

    def _vectors(self, field: VectorField, pos: np.ndarray) -> np.ndarray:
        """Vectors of some rows, fetched once and cached in the snapshot."""
        s = self._snapshot()
        missing = [int(p) for p in pos if (field, int(p)) not in s.vectors]
        for i in range(0, len(missing), 1000):
            chunk = missing[i : i + 1000]
            for r in self.client.get(self.name, ids=[s.ids[p] for p in chunk], output_fields=["id", field]):
                s.vectors[(field, s.pos_of[r["id"]])] = np.asarray(r[field], np.float32)
        dim = (self.get_meta("dims") or {}).get(field, 0)
        return np.stack([s.vectors.get((field, int(p)), np.zeros(dim, np.float32)) for p in pos]) if len(pos) else np.zeros((0, dim))

    def vector(self, pos: int, field: VectorField) -> np.ndarray | None:
        if not self._snapshot().has[field][pos]:
            return None
        return self._vectors(field, np.array([pos]))[0]

    def _expr(self, mask, extra: str | None = None) -> tuple[str | None, np.ndarray | None]:
        """(filter expression, post-filter mask) for a row mask."""
        expr = getattr(mask, "expr", None)
        post = None
        if mask is not None and expr is None:
            sel = np.where(mask)[0]
            if len(sel) <= 2000:
                s = self._snapshot()
                expr = f"id in [{', '.join(_quote(s.ids[i]) for i in sel)}]" if len(sel) else 'id == "__none__"'
            else:
                post = np.asarray(mask, bool)
        parts = [p for p in (expr, extra) if p]
        return (" and ".join(f"({p})" for p in parts) or None), post

    def _search(self, data, field: str, k: int, mask, extra: str | None, params: dict) -> Candidates:
        s = self._snapshot()
        if not s.ids:
            return Candidates.empty()
        expr, post = self._expr(mask, extra)
        limit = min(max(k * (4 if post is not None else 1), 1), 16384)
        res = self.client.search(self.name, data=[data], anns_field=field, limit=limit, filter=expr or "",
                                 search_params=params, output_fields=["id"])
        pos, scores = [], []
        for h in res[0]:
            p = s.pos_of.get(h["id"])
            if p is None or (post is not None and not post[p]):
                continue
            pos.append(p)
            scores.append(-h["distance"] if field == "sparse" else h["distance"])
        order = np.argsort(-np.array(scores), kind="stable")[:k] if scores else np.zeros(0, np.int64)
        return Candidates(np.array(pos, np.int64)[order], np.array(scores, np.float32)[order])

    def bm25(self, tokens: list[str], k: int, mask: np.ndarray | None = None) -> Candidates:
        if not tokens:
            return Candidates.empty()
        return self._search(" ".join(tokens), "sparse", k, mask, None, {"metric_type": "BM25"})

    def dense(self, vec: np.ndarray, field: VectorField, k: int, mask: np.ndarray | None = None) -> Candidates:
        dims = self.get_meta("dims") or {}
        if dims.get(field) != len(vec):
            return Candidates.empty()
        extra = "has_image == true" if field in ("image", "visual") else None
        params = {"metric_type": "IP", "params": {"ef": max(k, 128)} if self.index_type == "HNSW" else {"nprobe": self.settings.ivf_nprobe}}
        return self._search(np.asarray(vec, np.float32).tolist(), field, k, mask, extra, params)

    def dense_scores(self, vec: np.ndarray, field: VectorField, pos: np.ndarray) -> np.ndarray:
        if len(pos) == 0:
            return np.zeros(0, np.float32)
        m = self._vectors(field, pos)
        if m.shape[1] != len(vec):
            return np.zeros(len(pos), np.float32)
        return np.where(self._snapshot().has[field][pos], m @ np.asarray(vec, np.float32), 0.0).astype(np.float32)

    def column(self, name: str) -> np.ndarray:
        s = self._snapshot()
        if name not in s.columns:
            if name.startswith("pred:"):
                s.columns[name] = np.array([d.get(name[5:], "") for d in s.predicted], dtype=object)
            else:
                s.columns[name] = np.array([str(self.product(i).field(name) or "") for i in range(len(s.ids))], dtype=object)
        return s.columns[name]

    def mask(self, filters: Filters) -> np.ndarray | None:
        if filters.is_empty():
            return None
        s = self._snapshot()
        m = filter_mask(self, filters, s.pos_of)
        out = m.view(FilterMask)
        # The same filter for Milvus, with the catalogue's own spellings (matching is case-blind here).
        exact = Filters(price_min=filters.price_min, price_max=filters.price_max, ids=filters.ids)
        for name in SCALARS:
            wanted = {v.lower() for v in getattr(filters, name)}
            if wanted:
                found = sorted({v for v in s.columns[name] if v.lower() in wanted}) or ["__none__"]
                setattr(exact, name, found)
        out.expr = None if filters.attrs else filter_expr(exact)  # attrs live in the JSON record: filter by id
        return out
