"""The embedded default backend: one folder, no server.

- Records live in SQLite (WAL, one transaction per batch), the source of truth:
  a crash loses at most the batch in flight, and ingest resumes from the hashes.
- Up to `ann_threshold` products, vectors are held in memory as float32 matrices
  and searched exactly with one matrix product (11,882 x 384 is well under a
  millisecond). Above it ("large mode"), each field is a FAISS inverted file over
  8-bit scalar-quantised vectors (a quarter of float32), built once per write
  generation and saved beside the records, so opening is a file read; records are
  read from SQLite on demand and small top-k requests are re-ranked on the exact
  float32 vectors, so recall does not pay for the quantisation.
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
from functools import partial
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from shopsearch.index.base import (Candidates, Index, IndexMismatch, Record, VectorField, check_schema,
                                   filter_mask)
from shopsearch.index.lexical import tokenize
from shopsearch.schema import Filters, Product
from shopsearch.settings import Settings, get_settings

log = logging.getLogger(__name__)

DB_NAME = "records.sqlite"
FIELDS: tuple[VectorField, ...] = ("text", "image", "visual")
RECHECK_S = 1.0
CHUNK = 50_000  # rows per FAISS add while streaming a large index in


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
    rowids: np.ndarray  # SQLite rowid by position: records are read by it in large mode
    docs: list[str] | None  # record JSON in memory below ann_threshold; None above (read on demand)
    vectors: dict[str, np.ndarray]  # float32 by position (small mode; empty arrays in large mode)
    dims: dict[str, int]
    has: dict[str, np.ndarray]
    predicted: list[dict]
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    products: dict[int, Product] = field(default_factory=dict)
    bm25: object | None = None
    ann: dict[str, object] = field(default_factory=dict)
    gen: int = 0  # the write generation these rows are

    @property
    def large(self) -> bool:
        return self.docs is None


def _generation(db: sqlite3.Connection) -> int:
    """The write generation stored in the meta table (bumped by every write)."""
    row = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
    return int(json.loads(row[0]) or 0) if row else 0


class _Interner(dict):
    """One object per distinct value: a million products share a few hundred types,
    colours and predicted-attribute dicts."""

    def __call__(self, key, make=lambda k: k):
        v = self.get(key)
        if v is None:
            v = self[key] = make(key)
        return v


def _load_predicted(intern: _Interner, text: str) -> dict:
    return json.loads(text, object_pairs_hook=lambda pairs: {intern(k): v for k, v in pairs}) if text else {}


class _AnnBuilder:
    """IVF-SQ8 indexes filled chunk by chunk as records stream in, so a million
    products never sit in memory as float32 at once. The coarse quantiser and the
    8-bit ranges are trained on the first chunk."""

    def __init__(self, settings, n: int) -> None:
        self.s = settings
        self.nlist = max(1, min(int(settings.ivf_lists_per_sqrt_n * n ** 0.5), n // 40))
        self.indexes: dict[str, object] = {}
        self.dims: dict[str, int] = {}

    def add(self, blobs: dict[str, list]) -> None:
        import faiss

        for f in FIELDS:
            rows = blobs[f]
            if not rows:
                continue
            dim = self.dims.get(f) or next((len(b) // 4 for b in rows if b), 0)
            if not dim:  # no vectors of this field yet: keep the rows for the next chunk
                continue
            m = np.zeros((len(rows), dim), np.float32)
            for r, b in enumerate(rows):
                if b:
                    m[r] = np.frombuffer(b, np.float32)
            ix = self.indexes.get(f)
            if ix is None:
                quantizer = faiss.IndexFlatIP(dim)
                ix = faiss.IndexIVFScalarQuantizer(quantizer, dim, self.nlist, faiss.ScalarQuantizer.QT_8bit,
                                                   faiss.METRIC_INNER_PRODUCT)
                ix.own_fields = True
                quantizer.this.disown()
                ix.cp.min_points_per_centroid = 5  # the first chunk may be small beside nlist: no warning
                ix.train(m[np.any(m != 0, axis=1)] if np.any(m != 0) else m)
                ix.make_direct_map()  # reconstruct(position) for scoring fused candidates
                self.indexes[f], self.dims[f] = ix, dim
            ix.add(m)
            ix.nprobe = self.s.ivf_nprobe
            rows.clear()


class EmbeddedIndex(Index):
    def __init__(self, path: Path, create: bool = False, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
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
        self._pending: tuple[tuple[int, int], float] | None = None  # a newer version seen, and when
        self._tls = threading.local()
        self.serving = False  # set by the HTTP server: large views never reload on a request

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
        gen = _generation(self.db) + 1
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
            self._invalidate()

    def _invalidate(self) -> None:
        """After this process's own write: the view reloads at the next read, except
        a large one in a server (`serving`), which is replaced in the background like
        another writer's, so no request waits minutes for the rebuild."""
        if self._snap is not None and self._snap.large and self.serving:
            self._checked = 0.0
        else:
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
            self._invalidate()
        return n

    def hashes(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, hash FROM products").fetchall())

    # -- snapshot ------------------------------------------------------------
    def _version(self) -> tuple[int, int]:
        return self.db.execute("PRAGMA data_version").fetchone()[0], _generation(self.db)

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
                now = self._checked = time.monotonic()
                v = self._version()
                if v != self._seen_version and self._reloader is None:
                    # A large view costs minutes to rebuild: wait until the writer has
                    # been quiet for a while, so an ingest causes one rebuild, not one per batch.
                    if self._pending is None or self._pending[0] != v:
                        self._pending = (v, now)
                    if not snap.large or now - self._pending[1] >= self.settings.large_reload_quiet_s:
                        self._pending = None
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
                snap = self._load(con)
            finally:
                con.close()
            with self._lock:
                if self._snap is not None and self._seen_version is not None and snap.gen >= self._seen_version[1]:
                    self._snap, self._seen_version = snap, (self._version()[0], snap.gen)
        except Exception:  # the next check tries again; searches keep the view they have
            log.exception("index %s: background reload failed", self.path)
        finally:
            self._reloader = None

    def meta_generation(self) -> int:
        with self._lock:
            return _generation(self.db)

    def generation(self) -> int:
        """Write generation of the snapshot in use (cheap: no database round trip)."""
        self.snapshot()
        return self._seen_version[1] if self._seen_version else 0

    def _load(self, con: sqlite3.Connection | None = None) -> Snapshot:
        """Stream the records in once: ids, filter and facet columns, predicted
        attributes; vectors as float32 (small) or FAISS graphs (large, read from the
        generation's saved files when present); BM25 from its saved index."""
        st = self.settings
        db = con or self.db
        own = not db.in_transaction
        if own:
            db.execute("BEGIN")  # one consistent read of the rows and their generation
        try:
            return self._read_all(db, st)
        finally:
            if own:
                db.execute("COMMIT")

    def _read_all(self, db: sqlite3.Connection, st) -> Snapshot:
        gen = _generation(db)
        n = db.execute("SELECT COUNT(*) FROM products").fetchone()[0]
        large = n > st.ann_threshold
        ann_saved = large and self._ann_files(gen)[1].exists()
        bm25_saved = (self.path / f"bm25-{gen}").exists()
        want_vecs = not ann_saved
        cols = ["rowid", "id", "doc", "predicted"] + ([] if bm25_saved else ["tokens"]) + \
               ([f"{f}_vec" for f in FIELDS] if want_vecs else [])
        ids: list[str] = []
        rowids = np.zeros(n, np.int64)
        docs: list[str] | None = None if large else []
        predicted: list[dict] = []
        tokens: list[str] = []
        names = ("type", "colour", "gender", "brand", "title")
        colvals: dict[str, list] = {k: [] for k in names}
        price = np.full(n, np.nan, np.float64)
        intern, pred_intern = _Interner(), _Interner()
        # every product's labels and borrowed words come from a few thousand strings: one object each
        load_predicted = partial(_load_predicted, intern)
        blobs: dict[str, list] = {f: [] for f in FIELDS}
        has = {f: np.zeros(n, bool) for f in FIELDS}
        builder = _AnnBuilder(st, n) if large and want_vecs else None
        i = -1
        for i, row in enumerate(db.execute(f"SELECT {', '.join(cols)} FROM products ORDER BY rowid")):
            if i >= n:  # rows added since the count (only without a pinned read): next reload
                break
            rowids[i] = row[0]
            ids.append(row[1])
            d = json.loads(row[2])
            if docs is not None:
                docs.append(row[2])
            for k in names:
                colvals[k].append(intern(d.get(k) or "") if k != "title" else (d.get(k) or ""))
            if d.get("price") is not None:
                price[i] = float(d["price"])
            predicted.append(pred_intern(row[3] or "", load_predicted))
            j = 4
            if not bm25_saved:
                tokens.append(row[j])
                j += 1
            if want_vecs:
                for f, b in zip(FIELDS, row[j:]):
                    has[f][i] = b is not None
                    blobs[f].append(b)
                if builder is not None and len(blobs["text"]) >= CHUNK:
                    builder.add(blobs)
        n = i + 1
        rowids = rowids[:n]
        has = {f: m[:n] for f, m in has.items()}
        price = price[:n]
        vectors: dict[str, np.ndarray] = {}
        dims: dict[str, int] = {}
        ann: dict[str, object] = {}
        if builder is not None:
            builder.add(blobs)
            ann, dims = builder.indexes, builder.dims
            self._save_ann(gen, ann, has)
        elif ann_saved:
            ann, has = self._read_ann(gen)
            dims = {f: ix.d for f, ix in ann.items()}
        if not large:
            for f in FIELDS:
                dim = next((len(b) // 4 for b in blobs[f] if b), 0)
                m = np.zeros((n, dim), np.float32)
                for r, b in enumerate(blobs[f]):
                    if b:
                        m[r] = np.frombuffer(b, np.float32)
                vectors[f], dims[f] = m, dim
        else:
            vectors = {f: np.zeros((0, dims.get(f, 0)), np.float32) for f in FIELDS}
        del blobs
        snap = Snapshot(ids=ids, pos_of={p: r for r, p in enumerate(ids)}, rowids=rowids, docs=docs, vectors=vectors,
                        dims=dims, has=has, predicted=predicted, ann=ann, gen=gen)
        for k, vals in colvals.items():
            snap.columns[k] = np.array(vals, dtype=object)
        snap.columns["price"] = price
        snap.bm25 = self._bm25(tokens, gen, n)
        log.info("index %s loaded: %d products%s", self.path, n, " (large mode: IVF-SQ8, records on demand)" if large else "")
        return snap

    # -- large mode: FAISS graphs saved per generation -------------------------
    def _ann_files(self, gen: int) -> tuple[dict[str, Path], Path]:
        return {f: self.path / f"ann-{gen}-{f}.faiss" for f in FIELDS}, self.path / f"ann-{gen}.npz"

    def _save_ann(self, gen: int, ann: dict, has: dict[str, np.ndarray]) -> None:
        """Graphs first, the masks file last: its presence says the set is complete."""
        import faiss

        files, done = self._ann_files(gen)
        for old in self.path.glob("ann-*"):
            if old not in files.values() and old != done:
                old.unlink(missing_ok=True)
        for f, ix in ann.items():
            tmp = files[f].with_suffix(".tmp")
            faiss.write_index(ix, str(tmp))
            tmp.replace(files[f])
        tmp = self.path / f".ann-{gen}.tmp.npz"
        np.savez(tmp, **{f: m for f, m in has.items()})
        tmp.replace(done)

    def _read_ann(self, gen: int) -> tuple[dict, dict[str, np.ndarray]]:
        import faiss

        files, done = self._ann_files(gen)
        with np.load(done) as z:
            has = {f: z[f] for f in FIELDS}
        ann = {}
        for f in FIELDS:
            if files[f].exists():
                ann[f] = faiss.read_index(str(files[f]))
                ann[f].nprobe = self.settings.ivf_nprobe
        return ann, has

    def _bm25(self, token_rows: list[str], gen: int, n: int):
        import bm25s

        cache = self.path / f"bm25-{gen}"
        if cache.exists():
            try:
                return bm25s.BM25.load(str(cache), mmap=n > 100_000)
            except Exception:  # a half-written cache is rebuilt
                shutil.rmtree(cache, ignore_errors=True)
                if not token_rows:  # the tokens were not read, trusting the cache
                    token_rows = [r[0] for r in self.db.execute("SELECT tokens FROM products ORDER BY rowid")][:n]
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

    def _exact(self, field: VectorField, pos: np.ndarray) -> np.ndarray:
        """float32 vectors of some positions, from the records (large mode)."""
        s = self.snapshot()
        out = np.zeros((len(pos), s.dims.get(field, 0)), np.float32)
        if not len(pos):
            return out
        where = {int(s.rowids[p]): r for r, p in enumerate(pos)}
        with self._lock:
            rows = self.db.execute(f"SELECT rowid, {field}_vec FROM products WHERE rowid IN "
                                   f"({','.join('?' * len(where))})", list(where)).fetchall()
        for rid, b in rows:
            if b:
                out[where[rid]] = np.frombuffer(b, np.float32)
        return out

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
            if s.docs is not None:
                doc = s.docs[pos]
            else:
                with self._lock:
                    row = self.db.execute("SELECT doc FROM products WHERE rowid=?", (int(s.rowids[pos]),)).fetchone()
                if row is None:  # deleted since this view was loaded: what the view knows of it
                    return Product(id=s.ids[pos], title=s.columns["title"][pos] or s.ids[pos],
                                   **{k: s.columns[k][pos] for k in ("type", "colour", "gender", "brand")})
                doc = row[0]
            if len(s.products) > 50_000:  # a bounded cache of parsed records
                s.products.clear()
            p = s.products[pos] = Product.model_validate_json(doc)
        return p

    def predicted(self, pos: int) -> dict[str, str]:
        return self.snapshot().predicted[pos]

    def vector(self, pos: int, field: VectorField) -> np.ndarray | None:
        s = self.snapshot()
        if not s.has[field][pos]:
            return None
        return self._exact(field, np.array([pos]))[0] if s.large else s.vectors[field][pos]

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
        if not s.ids or s.dims.get(field, 0) != len(vec):
            return Candidates.empty()
        present = s.has[field]
        mask = present if mask is None else (mask & present)
        v = np.asarray(vec, np.float32)
        ann = s.ann.get(field)
        if ann is None:
            return top_k(s.vectors[field] @ v, k, mask)
        import faiss

        st = self.settings
        rerank = k <= st.ann_rerank
        kk = min(len(s.ids), max(4 * k, st.ann_rerank_pool) if rerank else k)
        bits = np.packbits(mask, bitorder="little")
        params = faiss.SearchParametersIVF(sel=faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits)),
                                           nprobe=st.ivf_nprobe)
        d, i = ann.search(v[None, :], kk, params=params)
        ok = i[0] >= 0
        pos, sc = i[0][ok].astype(np.int64), d[0][ok].astype(np.float32)
        if rerank and len(pos):  # exact scores for the few the shopper will see
            sc = self._exact(field, pos) @ v
            order = np.argsort(-sc, kind="stable")[:k]
            pos, sc = pos[order], sc[order]
        return Candidates(pos[:k], sc[:k])

    def dense_scores(self, vec: np.ndarray, field: VectorField, pos: np.ndarray) -> np.ndarray:
        s = self.snapshot()
        if s.dims.get(field, 0) != len(vec) or len(pos) == 0:
            return np.zeros(len(pos), np.float32)
        v = np.asarray(vec, np.float32)
        if s.large:  # decoded from the 8-bit codes: within about 1% of the exact cosine
            m = s.ann[field].reconstruct_batch(np.asarray(pos, np.int64))
        else:
            m = s.vectors[field][pos]
        return np.where(s.has[field][pos], m @ v, 0.0).astype(np.float32)

    def column(self, name: str) -> np.ndarray:
        s = self.snapshot()
        if name not in s.columns and name.startswith("pred:"):
            key = name[5:]
            s.columns[name] = np.array([d.get(key, "") for d in s.predicted], dtype=object)
        if name not in s.columns:
            s.columns[name] = np.array(
                [str(self.product(i).field(name) or "") for i in range(len(s.ids))], dtype=object
            )
        return s.columns[name]

    def mask(self, filters: Filters) -> np.ndarray | None:
        return None if filters.is_empty() else filter_mask(self, filters, self.snapshot().pos_of)

    def close(self) -> None:
        self.db.close()
