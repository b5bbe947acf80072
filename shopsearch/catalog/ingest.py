"""The ingest pipeline: read, validate, embed and write in batches.

Each batch is one SQLite transaction, and a product whose content hash is already
stored is skipped, so a crash or Ctrl-C loses nothing committed and a re-run
resumes where it stopped (and re-running on a changed file upserts)."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from shopsearch.catalog.reader import ColumnMap, read_rows, row_to_product
from shopsearch.catalog.validate import check_image
from shopsearch.catalog.where import compile_where
from shopsearch.index.base import Index, Record
from shopsearch.schema import Product
from shopsearch.settings import Settings, get_settings

log = logging.getLogger(__name__)


class IngestAborted(RuntimeError):
    """`--on-error fail` met a bad row; everything before it is committed."""


@dataclass
class RowError:
    row: int
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


@dataclass
class IngestReport:
    indexed: int = 0
    unchanged: int = 0
    skipped: int = 0
    filtered: int = 0
    deleted: int = 0
    with_image: int = 0
    seconds: float = 0.0
    errors: list[RowError] = field(default_factory=list)
    interrupted: bool = False

    def summary(self) -> str:
        rate = self.indexed / self.seconds if self.seconds else 0.0
        s = (f"indexed {self.indexed} ({self.with_image} with photos), unchanged {self.unchanged}, "
             f"skipped {self.skipped} bad rows, deleted {self.deleted}, {self.seconds:.1f}s ({rate:.0f} items/s)")
        if self.filtered:
            s += f", {self.filtered} rows left out by --where"
        if self.interrupted:
            s += " - INTERRUPTED: committed batches are kept; run the same command again to resume"
        return s


def content_hash(product: Product, photos: list[str], encoder_id: str) -> str:
    h = hashlib.sha1(product.model_dump_json().encode())
    h.update(encoder_id.encode())
    for p in photos[:1]:
        try:
            st = Path(p).stat()
            h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}".encode())
        except OSError:
            h.update(p.encode())
    return h.hexdigest()


def _encode_batch(encoder, batch: list[tuple[int, Product, list[str], str]], errors: list[RowError]) -> list[Record]:
    """Embed captions and photos of one batch; a photo that fails to decode drops its row."""
    text_vecs = encoder.encode_text([p.caption() for _, p, _, _ in batch])
    with_img = [i for i, (_, p, _, _) in enumerate(batch) if p.image]
    aligned: dict[int, np.ndarray] = {}
    visual: dict[int, np.ndarray] = {}
    predicted: dict[int, dict] = {}
    failed: set[int] = set()

    def run(idx: list[int]) -> None:
        paths = [batch[i][1].image for i in idx]
        if hasattr(encoder, "encode_image_full"):
            a, v, attrs = encoder.encode_image_full(paths)
        else:
            (a, v), attrs = encoder.encode_image_both(paths), [{} for _ in idx]
        for j, i in enumerate(idx):
            aligned[i], visual[i], predicted[i] = a[j], v[j], attrs[j]

    if with_img:
        try:
            run(with_img)
        except Exception:  # find the broken photo(s) one by one
            for i in with_img:
                try:
                    run([i])
                except Exception as e:
                    failed.add(i)
                    errors.append(RowError(batch[i][0], f"product {batch[i][1].id}: cannot decode image ({e})"))
    return [
        Record(product=p, hash=h, text_vec=text_vecs[i], image_vec=aligned.get(i), visual_vec=visual.get(i),
               predicted=predicted.get(i, {}))
        for i, (_, p, _, h) in enumerate(batch) if i not in failed
    ]


def ingest(
    catalogue: Path,
    index: Index,
    encoder,
    images_dir: Path | None = None,
    mapping: dict[str, str] | None = None,
    where: str | None = None,
    on_error: str = "skip",
    settings: Settings | None = None,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
    workers: int = 0,
) -> IngestReport:
    """Ingest a CSV/JSONL catalogue into `index`. See the module doc for the guarantees.

    `workers` > 0 embeds batches in that many worker processes (each with its own
    encoder on one thread) while this process reads, validates and writes; at most
    two batches per worker are in flight (back-pressure), and batches are written
    in order, so resuming by content hash works the same."""
    s = settings or get_settings()
    if on_error not in ("skip", "fail"):
        raise ValueError("--on-error must be 'skip' or 'fail'")
    catalogue = Path(catalogue)
    images_dir = Path(images_dir) if images_dir else catalogue.parent
    columns, rows = read_rows(catalogue)
    cmap = ColumnMap.resolve(columns, mapping)
    keep = compile_where(where) if where else None
    stored = index.hashes()
    enc_id = encoder.id
    prev = index.get_meta("encoder")
    if prev and prev != enc_id and stored:
        log.warning("index was built with encoder %s; re-embedding every product with %s", prev, enc_id)
    index.set_meta("encoder", enc_id)
    model_dir = getattr(getattr(encoder, "image", None), "model_dir", None) or getattr(encoder, "folder", None)
    if model_dir:
        index.set_meta("image_model", str(Path(model_dir).resolve()))
    index.set_meta("text_encoder", getattr(getattr(encoder, "text", None), "id", enc_id))
    index.set_meta("image_encoder", getattr(getattr(encoder, "image", None), "id", enc_id))

    report = IngestReport()
    seen: set[str] = set()
    pending: list[tuple[int, Product, list[str], str]] = []
    t0 = time.perf_counter()
    total = None
    try:
        with catalogue.open("rb") as f:
            total = sum(1 for _ in f) - (1 if catalogue.suffix.lower() in (".csv", ".tsv") else 0)
    except OSError:
        pass
    bar = tqdm(total=total, desc="ingest", unit="items", disable=not progress, dynamic_ncols=True)

    def bad(rown: int, msg: str) -> None:
        err = RowError(rown, msg)
        report.errors.append(err)
        report.skipped += 1
        log.warning("%s", err)
        if on_error == "fail":
            flush()
            drain()
            raise IngestAborted(f"{err} (stopping: --on-error fail; {report.indexed} products committed before it)")

    pool = None
    inflight: list = []
    if workers > 0:
        from concurrent.futures import ProcessPoolExecutor

        model = getattr(getattr(encoder, "image", None), "model_dir", None) or getattr(encoder, "folder", None)
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init,
                                   initargs=(s.model_dump(), str(model) if model else None))

    def write(records: list[Record], errs: list[RowError]) -> None:
        index.upsert(records)
        report.indexed += len(records)
        report.with_image += sum(r.image_vec is not None for r in records)
        if on_batch:
            on_batch(report.indexed)
        for e in errs:
            report.errors.append(e)
            report.skipped += 1
            log.warning("%s", e)
        if errs and on_error == "fail":
            raise IngestAborted(f"{errs[0]} (stopping: --on-error fail)")

    def drain(keep: int = 0) -> None:
        while len(inflight) > keep:
            write(*inflight.pop(0).result())

    def flush() -> None:
        if not pending:
            return
        batch = list(pending)
        pending.clear()
        if pool is None:
            errs: list[RowError] = []
            write(_encode_batch(encoder, batch, errs), errs)
            return
        inflight.append(pool.submit(_worker_encode, batch))
        drain(keep=2 * workers - 1)  # back-pressure: at most two batches per worker in flight

    try:
        for rown, row in rows:
            bar.update(1)
            if "__error__" in row:
                bad(rown, row["__error__"])
                continue
            if keep is not None:
                try:
                    if not keep(row):
                        report.filtered += 1
                        continue
                except (ValueError, TypeError) as e:
                    bad(rown, str(e))
                    continue
            try:
                product, photos = row_to_product(row, cmap, images_dir)
                if product.id in seen:
                    raise ValueError(f"duplicate id {product.id} (first seen earlier in this file)")
                seen.add(product.id)
                if product.image:
                    check_image(product.image, s)
            except ValueError as e:
                bad(rown, str(e))
                continue
            h = content_hash(product, photos, enc_id)
            if stored.get(product.id) == h:
                report.unchanged += 1
                continue
            pending.append((rown, product, photos, h))
            if len(pending) >= s.ingest_batch:
                flush()
                bar.set_postfix(indexed=report.indexed, skipped=report.skipped)
        flush()
        drain()
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        report.seconds = time.perf_counter() - t0
    refresh_vocabulary(index, encoder.encode_text)
    return report


_WORKER_ENCODER = None


def _worker_init(settings: dict, model: str | None) -> None:
    """Load the encoder once per worker process, on one thread (the workers share the cores)."""
    global _WORKER_ENCODER
    from shopsearch.encoders.factory import load_encoder

    s = Settings(**dict(settings, threads=1))
    _WORKER_ENCODER = load_encoder(s, image_model=Path(model) if model else None)


def _worker_encode(batch: list) -> tuple[list[Record], list[RowError]]:
    errs: list[RowError] = []
    return _encode_batch(_WORKER_ENCODER, batch, errs), errs


def refresh_vocabulary(index: Index, encode=None) -> None:
    """Rebuild the query vocabulary (types, colours, genders, words) from what is indexed,
    with its concept map (unknown shopper words -> catalogue values; query/concepts.py).
    `encode` is a text encoder (texts -> unit vectors); the bundled one is loaded if none."""
    try:
        from shopsearch.query.vocab import Vocabulary
    except ImportError:  # pragma: no cover
        return
    n = index.count()
    if n == 0:
        index.set_meta("vocab", None)
        return
    titles = [str(t) for t in index.column("title")]
    vocab = Vocabulary.build(
        types=[t for t in index.column("type") if t], colours=[c for c in index.column("colour") if c],
        genders=[g for g in index.column("gender") if g],
        usages=[u for u in index.column("usage") if u], texts=titles,
    )
    vocab.with_concepts(_concepts(index, vocab, titles, encode))
    index.set_meta("vocab", vocab.to_dict())


def _concepts(index: Index, vocab, titles: list[str], encode) -> dict:
    """The concept map, built again only when the catalogue's values changed (an admin
    upsert of a few products keeps the one it has: WordNet senses and the calibration
    depend on the values, not on each product)."""
    from shopsearch.query.concepts import build_concepts
    from shopsearch.query.wordnet import WordNet

    old = index.get_meta("vocab") or {}
    if old.get("concepts") and all(set(old.get(k) or {}) == set(getattr(vocab, k))
                                   for k in ("types", "colours", "genders", "usages")):
        return old["concepts"]
    if encode is None:
        from shopsearch.encoders.text import MiniLMText

        encode = MiniLMText(get_settings()).encode
    return build_concepts(vocab, titles, [str(t) for t in index.column("type")], encode, WordNet.open())


def delete(index: Index, ids: list[str]) -> int:
    n = index.delete(ids)
    refresh_vocabulary(index)
    return n


def upsert_products(index: Index, encoder, products: list[Product], settings: Settings | None = None) -> list[RowError]:
    """Embed and write products given directly (the admin API); returns per-item errors
    (row = position in the list, from 1). Valid items are written even if others fail."""
    s = settings or get_settings()
    errors: list[RowError] = []
    batch = []
    for n, p in enumerate(products, 1):
        try:
            if p.image:
                check_image(p.image, s)
        except ValueError as e:
            errors.append(RowError(n, str(e)))
            continue
        batch.append((n, p, [p.image] if p.image else [], content_hash(p, [p.image] if p.image else [], encoder.id)))
    if batch:
        index.upsert(_encode_batch(encoder, batch, errors))
        refresh_vocabulary(index, encoder.encode_text)
    return errors
