"""Batch search over a query file and TREC run output (the fixed contract the
project is measured with): `search-batch` and `eval`."""

from __future__ import annotations

import json
import logging
import weakref
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from shopsearch.schema import Filters, Query

log = logging.getLogger(__name__)


def load_queries(path: Path) -> list[dict]:
    """Queries from JSONL; media paths are resolved against the query file's folder."""
    path = Path(path)
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                q = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: line {n} is not JSON: {e.msg}") from None
            if "qid" not in q:
                raise ValueError(f"{path}: line {n} has no qid")
            for key in ("image", "audio", "video"):
                v = q.get(key)
                if v:
                    vals = v if isinstance(v, list) else [v]
                    q[key] = [str(p if Path(p).is_absolute() else (path.parent / p)) for p in vals]
            out.append(q)
    return out


def to_query(q: dict, k: int, transcribe: Callable[[str], str] | None = None,
             video: Callable[[str], tuple[str, list]] | None = None) -> Query:
    text = q.get("text") or ""
    images = list(q.get("image") or [])
    for a in q.get("audio") or []:
        if transcribe is None:
            raise RuntimeError("audio queries need the voice module (shopsearch.media)")
        text = (text + " " + transcribe(a)).strip()
    for v in q.get("video") or []:
        if video is None:
            raise RuntimeError("video queries need the video module (shopsearch.media)")
        vt, frames = video(v)
        text = (text + " " + vt).strip()
        images += frames
    fields = q.get("fields")
    return Query(text=text or None, images=images, fields=fields, page_size=k, facets=False)


_UNSEEN: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def unseen_ids(engine) -> list[str]:
    """Ids of the unseen split (id % 5 == 0) in an index, computed once per engine."""
    ids = _UNSEEN.get(engine)
    if ids is None:
        ids = _UNSEEN[engine] = [i for i in engine.index.ids() if i.isdigit() and int(i) % 5 == 0]
    return ids


def prepare(engine, q: dict, k: int, unseen_engine=None, media=None):
    """(engine to ask, Query) for one query-file entry. `split: unseen` queries use
    `unseen_engine` when given, else the main index restricted to id % 5 == 0."""
    vocab = engine.vocab if media is not None and (q.get("audio") or q.get("video")) else None
    tr = (lambda p: media.transcribe(p, vocab)) if media is not None else None
    vq = (lambda p: media.video_query(p, vocab)) if media is not None else None
    query = to_query(q, k, tr, vq)
    if q.get("split") == "unseen":
        if unseen_engine is not None:
            return unseen_engine, query
        query.filters = Filters(ids=unseen_ids(engine))
    return engine, query


def run_batch(engine, queries: list[dict], k: int = 100, unseen_engine=None, progress: bool = True,
              media=None) -> dict[str, list[tuple[str, float]]]:
    """qid -> ranked (product id, score)."""
    run: dict[str, list[tuple[str, float]]] = {}
    for q in tqdm(queries, desc="queries", unit="q", disable=not progress):
        eng, query = prepare(engine, q, k, unseen_engine, media)
        res = eng.search(query)
        run[q["qid"]] = [(h.id, h.score) for h in res.hits]
    return run


def write_trec(run: dict[str, list[tuple[str, float]]], out: Path, tag: str = "shopsearch") -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for qid, hits in run.items():
            for rank, (pid, score) in enumerate(hits, 1):
                f.write(f"{qid} Q0 {pid} {rank} {score:.6f} {tag}\n")


def read_trec(path: Path) -> dict[str, list[str]]:
    run: dict[str, list[tuple[int, str]]] = {}
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            p = line.split()
            if len(p) >= 4:
                run.setdefault(p[0], []).append((int(p[3]), p[2]))
    return {q: [pid for _, pid in sorted(v)] for q, v in run.items()}
