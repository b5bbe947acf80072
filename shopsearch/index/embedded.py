"""The embedded default backend: one folder, no server.

- Records live in SQLite (WAL, one transaction per batch), the source of truth:
  a crash loses at most the batch in flight, and ingest resumes from the hashes.
- Vectors are held in memory as float32 matrices and searched exactly with one
  matrix product (11,882 x 384 is well under a millisecond); FAISS HNSW takes over
  past `ann_threshold` rows.
- BM25 is bm25s over jieba-segmented, lightly stemmed tokens; its index is saved
  beside the records per write generation, so opening a served index is quick.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from shopsearch.index.base import (Candidates, Index, IndexMismatch, Record, VectorField, check_schema,
                                   filter_mask)
from shopsearch.index.lexical import tokenize
from shopsearch.schema import Filters, Product

log = logging.getLogger(__name__)

DB_NAME = "records.sqlite"
FIELDS: tuple[VectorField, ...] = ("text", "image", "visual")
ANN_THRESHOLD = 200_000
RECHECK_S = 1.0


def _blob(v: np.ndarray | None) -> bytes | None:
    return None if v is None else np.asarray(v, dtype=np.float32).tobytes()


def top_k(scores: np.ndarray, k: int, mask: np.ndarray | None = None) -> Candidates:
    """Best k rows of a full score vector, optionally restricted by a mask."""
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    k = min(k, len(scores))
    if k <= 0:
        return Candidates.empty()
    idx = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    idx = idx[np.isfinite(scores[idx])]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return Candidates(idx.astype(np.int64), scores[idx].astype(np.float32))


@dataclass
class Snapshot:
    """Everything a query needs, built once per write generation."""

    ids: list[str]
    pos_of: dict[str, int]
    docs: list[str]
    vectors: dict[str, np.ndarray]
    has: dict[str, np.ndarray]
    predicted: list[dict]
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    products: dict[int, Product] = field(default_factory=dict)
    bm25: object | None = None
    ann: dict[str, object] = field(default_factory=dict)


class EmbeddedIndex(Index):
    def __init__(self, path: Path, create: bool = False) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        db = self.path / DB_NAME
        if not db.exists() and not create:
            raise FileNotFoundError(f"No index at {self.path}: run `shopsearch ingest CATALOGUE --index {self.path}` first")
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        existed = db.exists() and db.stat().st_size > 0
        self.db = sqlite3.connect(str(db), check_same_thread=False, isolation_level=None)
        try:
            self._open_schema(existed)
        except sqlite3.DatabaseError as e:  # not SQLite at all, or another program's tables
            self.db.close()
            raise IndexMismatch(f"{db} is not a Shopsearch index ({e}): point --index at an index folder, "
                                f"or build one with `shopsearch ingest CATALOGUE --index NEW_FOLDER`") from None
        check_schema(self)
        self._snap: Snapshot | None = None
        self._seen_version: tuple[int, int] | None = None
        self._checked = 0.0
        self._reloader: threading.Thread | None = None
        self._tls = threading.local()

    def _open_schema(self, existed: bool) -> None:
        if existed:  # never add our tables to somebody else's database
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not {"products", "meta"} <= tables:
                raise sqlite3.DatabaseError(f"it has no products and meta tables (tables: {sorted(tables) or 'none'})")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS products (
                rowid INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT UNIQUE NOT NULL,
                doc TEXT NOT NULL,
                hash TEXT NOT NULL,
                tokens TEXT NOT NULL,
                predicted TEXT,
                text_vec BLOB NOT NULL,
                image_vec BLOB,
                visual_vec BLOB
            );
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            """
        )
        cols = {r[1] for r in self.db.execute("PRAGMA table_info(products)")}
        if not {"id", "doc", "hash", "tokens", "text_vec"} <= cols:
            raise sqlite3.DatabaseError(f"its products table has columns {sorted(cols)}")

    # -- meta --------------------------------------------------------------
    def get_meta(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value) -> None:
        with self._lock:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))
            self._bump()

    def _bump(self) -> None:
        gen = int(self.get_meta("generation", 0) or 0) + 1
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (json.dumps(gen),))

    # -- writing -------------------------------------------------------------
    def upsert(self, records: Sequence[Record]) -> None:
        rows = [
            (
                r.product.id, r.product.model_dump_json(), r.hash, " ".join(tokenize(r.product.lexical_text())),
                json.dumps(r.predicted) if r.predicted else None,
                _blob(r.text_vec), _blob(r.image_vec), _blob(r.visual_vec),
            )
            for r in records
        ]
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany(
                    """INSERT INTO products (id, doc, hash, tokens, predicted, text_vec, image_vec, visual_vec)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT(id) DO UPDATE SET doc=excluded.doc, hash=excluded.hash, tokens=excluded.tokens,
                         predicted=excluded.predicted, text_vec=excluded.text_vec, image_vec=excluded.image_vec,
                         visual_vec=excluded.visual_vec""",
                    rows,
                )
                self._bump()
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self._snap = None

    def verify(self) -> list[str]:
        """What is wrong with the stored index, if anything: SQLite's own integrity
        check, duplicate ids, vectors of the wrong size, records that do not parse.
        Empty when the index is whole (used after crashes and by `shopsearch check`)."""
        problems = [f"sqlite: {r[0]}" for r in self.db.execute("PRAGMA integrity_check") if r[0] != "ok"]
        dup = self.db.execute("SELECT COUNT(*) - COUNT(DISTINCT id) FROM products").fetchone()[0]
        if dup:
            problems.append(f"{dup} duplicate ids")
        sizes: dict[str, set[int]] = {"text_vec": set(), "image_vec": set(), "visual_vec": set()}
        for pid, doc, *vecs in self.db.execute("SELECT id, doc, text_vec, image_vec, visual_vec FROM products"):
            for name, v in zip(sizes, vecs):
                if v is not None:
                    sizes[name].add(len(v))
            try:
                if Product.model_validate_json(doc).id != pid:
                    problems.append(f"record {pid}: its document names another id")
            except ValueError as e:
                problems.append(f"record {pid}: the document does not parse ({str(e)[:80]})")
        problems += [f"{name}: vectors of {len(n)} different sizes" for name, n in sizes.items() if len(n) > 1]
        return problems

    def delete(self, ids: Iterable[str]) -> int:
        ids = [str(i) for i in ids]
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            n = 0
            for s in range(0, len(ids), 500):
                chunk = ids[s : s + 500]
                n += self.db.execute(
                    f"DELETE FROM products WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).rowcount
            self._bump()
            self.db.execute("COMMIT")
            self._snap = None
        return n

    def hashes(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, hash FROM products").fetchall())

    # -- snapshot ------------------------------------------------------------
    def _version(self) -> tuple[int, int]:
        return (self.db.execute("PRAGMA data_version").fetchone()[0], int(self.get_meta("generation", 0) or 0))

    @contextmanager
    def pinned(self) -> Iterator[Snapshot]:
        """One view for the length of a search in this thread: positions from BM25
        and from the vectors must index the same rows, even if a reload lands."""
        if getattr(self._tls, "snap", None) is not None:  # nested: keep the outer view
            yield self._tls.snap
            return
        self._tls.snap = self.snapshot()
        try:
            yield self._tls.snap
        finally:
            self._tls.snap = None

    def snapshot(self) -> Snapshot:
        """The in-memory view. This process's own writes are seen at once. Other
        processes' writes (an ingest beside a running server) are noticed within
        `RECHECK_S` and loaded in a background thread while searches go on with
        the view they have: a reload never stalls a request."""
        pinned = getattr(self._tls, "snap", None)
        if pinned is not None:
            return pinned
        snap = self._snap
        if snap is not None and time.monotonic() - self._checked < RECHECK_S:
            return snap
        if snap is not None:
            with self._lock:
                self._checked = time.monotonic()
                if self._version() != self._seen_version and self._reloader is None:
                    self._reloader = threading.Thread(target=self._reload, name="index-reload", daemon=True)
                    self._reloader.start()
            return self._snap or snap
        with self._lock:
            if self._snap is None:
                v = self._version()
                self._snap, self._seen_version = self._load(), v
            self._checked = time.monotonic()
            return self._snap

    def _reload(self) -> None:
        """Load the newest view off the request path, on its own connection."""
        try:
            con = sqlite3.connect(str(self.path / DB_NAME), check_same_thread=False, isolation_level=None)
            try:
                con.execute("BEGIN")  # one consistent read of rows and generation
                v = (con.execute("PRAGMA data_version").fetchone()[0],
                     int(json.loads((con.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
                                     or ["0"])[0]) or 0))
                snap = self._load(con)
                con.execute("COMMIT")
            finally:
                con.close()
            with self._lock:
                if self._snap is not None and self._seen_version is not None and v[1] >= self._seen_version[1]:
                    self._snap, self._seen_version = snap, (self._version()[0], v[1])
        except Exception:  # the next check tries again; searches keep the view they have
            log.exception("index %s: background reload failed", self.path)
        finally:
            self._reloader = None

    def generation(self) -> int:
        """Write generation of the snapshot in use (cheap: no database round trip)."""
        self.snapshot()
        return self._seen_version[1] if self._seen_version else 0

    def _load(self, con: sqlite3.Connection | None = None) -> Snapshot:
        rows = (con or self.db).execute(
            "SELECT id, doc, tokens, predicted, text_vec, image_vec, visual_vec FROM products ORDER BY rowid"
        ).fetchall()
        ids = [r[0] for r in rows]
        vectors: dict[str, np.ndarray] = {}
        has: dict[str, np.ndarray] = {}
        for j, name in enumerate(FIELDS):
            blobs = [r[4 + j] for r in rows]
            dim = next((len(b) // 4 for b in blobs if b), 0)
            m = np.zeros((len(rows), dim), np.float32)
            present = np.array([b is not None for b in blobs], bool)
            for i, b in enumerate(blobs):
                if b:
                    m[i] = np.frombuffer(b, np.float32)
            vectors[name], has[name] = m, present
        snap = Snapshot(
            ids=ids, pos_of={p: i for i, p in enumerate(ids)}, docs=[r[1] for r in rows], vectors=vectors, has=has,
            predicted=[json.loads(r[3]) if r[3] else {} for r in rows],
        )
        cols: dict[str, list] = {k: [] for k in ("type", "colour", "gender", "brand", "price", "title")}
        for d in snap.docs:
            p = json.loads(d)
            for k in cols:
                cols[k].append(p.get(k))
        for k, vals in cols.items():
            if k == "price":
                snap.columns[k] = np.array([np.nan if v is None else float(v) for v in vals], np.float64)
            else:
                snap.columns[k] = np.array([(v or "") for v in vals], dtype=object)
        gen = int(json.loads(((con or self.db).execute("SELECT value FROM meta WHERE key='generation'").fetchone()
                               or ["0"])[0]) or 0)
        snap.bm25 = self._bm25([r[2] for r in rows], gen)
        if len(rows) > ANN_THRESHOLD:
            snap.ann = {f: self._hnsw(vectors[f]) for f in FIELDS if vectors[f].shape[1]}
        log.info("index %s loaded: %d products", self.path, len(rows))
        return snap

    def _bm25(self, token_rows: list[str], gen: int):
        import bm25s

        cache = self.path / f"bm25-{gen}"
        if cache.exists():
            try:
                return bm25s.BM25.load(str(cache))
            except Exception:  # a half-written cache is rebuilt
                shutil.rmtree(cache, ignore_errors=True)
        retr = bm25s.BM25()
        if token_rows:
            retr.index([t.split() or [""] for t in token_rows], show_progress=False)
            for old in self.path.glob("bm25-*"):
                shutil.rmtree(old, ignore_errors=True)
            tmp = self.path / f".bm25-{gen}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            retr.save(str(tmp))
            tmp.rename(cache)
        return retr

    @staticmethod
    def _hnsw(m: np.ndarray):
        import faiss

        idx = faiss.IndexHNSWFlat(m.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = 80
        idx.add(m)
        idx.hnsw.efSearch = 128
        return idx

    # -- reading ---------------------------------------------------------------
    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM products").fetchone()[0]

    def ids(self) -> list[str]:
        return self.snapshot().ids

    def position(self, product_id: str) -> int | None:
        return self.snapshot().pos_of.get(str(product_id))

    def product(self, pos: int) -> Product:
        s = self.snapshot()
        p = s.products.get(pos)
        if p is None:
            p = s.products[pos] = Product.model_validate_json(s.docs[pos])
        return p

    def predicted(self, pos: int) -> dict[str, str]:
        return self.snapshot().predicted[pos]

    def vector(self, pos: int, field: VectorField) -> np.ndarray | None:
        s = self.snapshot()
        return s.vectors[field][pos] if s.has[field][pos] else None

    def has_vector(self, field: VectorField) -> np.ndarray:
        return self.snapshot().has[field]

    def bm25(self, tokens: list[str], k: int, mask: np.ndarray | None = None) -> Candidates:
        s = self.snapshot()
        if not tokens or not s.ids:
            return Candidates.empty()
        scores = np.asarray(s.bm25.get_scores(tokens), np.float32)
        c = top_k(scores, k, mask)
        keep = c.scores > 0
        return Candidates(c.pos[keep], c.scores[keep])

    def dense(self, vec: np.ndarray, field: VectorField, k: int, mask: np.ndarray | None = None) -> Candidates:
        s = self.snapshot()
        m = s.vectors[field]
        if not s.ids or m.shape[1] != len(vec):
            return Candidates.empty()
        present = s.has[field]
        mask = present if mask is None else (mask & present)
        ann = s.ann.get(field)
        if ann is not None:
            kk = min(len(s.ids), k * (4 if mask is not None else 1))
            d, i = ann.search(vec[None, :].astype(np.float32), kk)
            ok = (i[0] >= 0) & mask[np.maximum(i[0], 0)]
            return Candidates(i[0][ok][:k].astype(np.int64), d[0][ok][:k].astype(np.float32))
        return top_k(m @ vec.astype(np.float32), k, mask)

    def dense_scores(self, vec: np.ndarray, field: VectorField, pos: np.ndarray) -> np.ndarray:
        s = self.snapshot()
        m = s.vectors[field]
        if m.shape[1] != len(vec) or len(pos) == 0:
            return np.zeros(len(pos), np.float32)
        return np.where(s.has[field][pos], m[pos] @ vec.astype(np.float32), 0.0).astype(np.float32)

    def column(self, name: str) -> np.ndarray:
        s = self.snapshot()
        if name not in s.columns and name.startswith("pred:"):
            key = name[5:]
            s.columns[name] = np.array([d.get(key, "") for d in s.predicted], dtype=object)
        if name not in s.columns:
            s.columns[name] = np.array(
                [str(self.product(i).attrs.get(name, "")) for i in range(len(s.ids))], dtype=object
            )
        return s.columns[name]

    def mask(self, filters: Filters) -> np.ndarray | None:
        return None if filters.is_empty() else filter_mask(self, filters, self.snapshot().pos_of)

    def close(self) -> None:
        self.db.close()
