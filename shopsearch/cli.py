"""The `shopsearch` command: ingest, train, search, evaluate and serve."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional, Tuple

import typer

from shopsearch.settings import get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Offline-first multimodal product search.")
log = logging.getLogger("shopsearch")

IndexOpt = typer.Option(None, "--index", help="Index folder (or Milvus URI); default from SHOPSEARCH_INDEX.")


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("httpx", "jieba", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _index_path(index: Optional[str]) -> str:
    return str(index or get_settings().index)


def _fail(msg: str, code: int = 2) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _engine(index: Optional[str]):
    from shopsearch.engine import Engine

    try:
        return Engine(_index_path(index))
    except FileNotFoundError as e:
        _fail(str(e))


@app.command()
def setup() -> None:
    """Export the bundled networks to ONNX once (needs the train extra: torch)."""
    from shopsearch.training.export import export_all

    for p in export_all(get_settings()):
        typer.echo(f"ready: {p}")


@app.command()
def ingest(
    catalogue: Optional[Path] = typer.Argument(None, help="CSV, TSV or JSONL catalogue."),
    images: Optional[Path] = typer.Option(None, "--images", help="Folder the image paths are relative to (default: the catalogue's folder)."),
    index: Optional[str] = IndexOpt,
    mapping: Optional[str] = typer.Option(None, "--map", help="field=column,... or a JSON mapping file."),
    where: Optional[str] = typer.Option(None, "--where", help='Only rows matching, e.g. "id % 5 == 0".'),
    on_error: str = typer.Option("skip", "--on-error", help="skip: report bad rows and go on; fail: stop at the first."),
    delete: Optional[str] = typer.Option(None, "--delete", help="Comma-separated ids, or @file with one id per line, to remove."),
    model: Optional[Path] = typer.Option(None, "--model", help="Image model folder (default: the shipped fashion model)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    workers: int = typer.Option(0, "--workers", help="Embed in N worker processes (0: in this process)."),
    errors: Optional[Path] = typer.Option(None, "--errors", help="Write every bad row (row, id, reason) to this JSONL file."),
) -> None:
    """Add or update a catalogue's products in an index (resumable), or delete some."""
    from shopsearch.catalog.ingest import IngestAborted, delete as delete_ids, ingest as run_ingest
    from shopsearch.catalog.reader import CatalogueError, parse_mapping
    from shopsearch.encoders.factory import load_encoder
    from shopsearch.engine import Engine

    s = get_settings()
    eng = Engine(_index_path(index), create=True)
    if delete:
        ids = Path(delete[1:]).read_text().split() if delete.startswith("@") else [i.strip() for i in delete.split(",") if i.strip()]
        n = delete_ids(eng.index, ids)
        typer.echo(f"deleted {n} of {len(ids)} ids; {eng.index.count()} products in {eng.index.location}")
        if catalogue is None:
            return
    if catalogue is None:
        _fail("give a CATALOGUE to ingest, or --delete IDS")
    try:
        encoder = load_encoder(s, image_model=model)
        report = run_ingest(catalogue, eng.index, encoder, images, parse_mapping(mapping), where, on_error, s,
                            progress=not quiet, workers=workers)
    except IngestAborted as e:
        _fail(str(e), 1)
    except (CatalogueError, ValueError, FileNotFoundError) as e:
        _fail(str(e))
    if errors is not None:
        with errors.open("w", encoding="utf-8") as f:
            for err in sorted(report.errors, key=lambda e: e.row):
                f.write(json.dumps({"row": err.row, "message": err.message}, ensure_ascii=False) + "\n")
        typer.echo(f"{len(report.errors)} bad rows written to {errors}", err=True)
    for err in report.errors[:50]:
        typer.echo(f"skipped {err}", err=True)
    if len(report.errors) > 50:
        typer.echo(f"... and {len(report.errors) - 50} more bad rows", err=True)
    typer.echo(report.summary())
    typer.echo(f"{eng.index.count()} products in {eng.index.location}")
    if report.interrupted:
        raise typer.Exit(130)


@app.command()
def train(
    catalogue: Path = typer.Argument(..., help="Catalogue with titles and photos."),
    images: Optional[Path] = typer.Option(None, "--images", help="Folder the image paths are relative to."),
    out: Optional[Path] = typer.Option(None, "--out", help="Model folder to write (default: the served model folder)."),
    exclude: Optional[str] = typer.Option(None, "--exclude", help='Rows never trained on, e.g. "id % 5 == 0".'),
    mapping: Optional[str] = typer.Option(None, "--map", help="field=column,... or a JSON mapping file."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs of the heads on the trunk's features "
                                         "(default 10 after fine-tuning, 30 on a frozen trunk)."),
    finetune_epochs: int = typer.Option(6, "--finetune-epochs", help="Epochs fine-tuning the whole trunk on the "
                                        "catalogue first (about 4.5 min each per 35,000 products on 2 cores); "
                                        "0, or under 2,000 products, keeps the frozen ImageNet trunk."),
    finetune_size: Optional[Tuple[int, int]] = typer.Option(None, "--finetune-size", help="Input width and height "
                                                            "of the fine-tuned trunk, in training and serving "
                                                            "(default 84 112)."),
    finetune_base: str = typer.Option("lite0", "--finetune-base", help="ImageNet trunk to fine-tune: lite0 (the "
                                      "default), lite1 or lite2 (larger, slower; each needs its weights package)."),
    memory: int = typer.Option(0, "--memory", help="Caption memory: each photo borrows the captions of its K "
                               "nearest training photos (words a photo cannot show: brands, product lines); 0: none."),
    instance: float = typer.Option(0.0, "--instance", help="Weight of instance discrimination (two views of each "
                                   "photo) while fine-tuning: photo-to-photo search; doubles the fine-tuning time."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Train on the first N products only."),
    seed: int = typer.Option(0, "--seed"),
    augment: int = typer.Option(1, "--augment", help="Augmented views per photo."),
    force: bool = typer.Option(False, "--force", help="Replace the served model even if validation is worse."),
    clicks_from: Optional[str] = typer.Option(None, "--clicks-from", help="Index whose logged clicks add (query, photo) pairs."),
    fp32_trunk: bool = typer.Option(False, "--fp32-trunk", help="With --finetune-epochs 0: train on the fp32 "
                                    "trunk instead of an int8 one calibrated on the catalogue (slower photo encoding)."),
    histogram: str = typer.Option("rgb+hsv", "--histogram", help='Colour histogram the heads see: "rgb+hsv" '
                                  '(275 bins, finer in the dark shades) or "rgb" (125 bins, the earlier models\').'),
) -> None:
    """Train the image tower on a catalogue's (photo, text) pairs into the text tower's space."""
    from shopsearch.catalog.reader import parse_mapping
    from shopsearch.training.train import TrainConfig, train as run_train

    s = get_settings()
    cfg = TrainConfig(epochs=epochs, limit=limit, seed=seed, augment_views=augment, int8_trunk=not fp32_trunk,
                      histogram=histogram, finetune_epochs=finetune_epochs, finetune_instance=instance,
                      memory_k=memory, finetune_base=finetune_base,
                      **({"finetune_width": finetune_size[0], "finetune_height": finetune_size[1]}
                         if finetune_size else {}))
    extra = None
    if clicks_from:
        from shopsearch.events.store import EventStore

        extra = [(e.product_id, e.query_text) for e in EventStore.for_index(clicks_from, s.events_url).clicks()
                 if e.product_id and e.query_text]
        typer.echo(f"{len(extra)} clicked (query, product) pairs from {clicks_from}")
    try:
        r = run_train(catalogue, images, Path(out or s.image_model), exclude, parse_mapping(mapping), cfg, force, s,
                      extra_pairs=extra)
    except ValueError as e:
        _fail(str(e))
    typer.echo(json.dumps(r.metrics, indent=2))
    if r.promoted:
        typer.echo(f"model written to {r.out} in {r.seconds:.0f}s")
    else:
        typer.echo(f"NOT promoted: worse than the served model on validation ({r.previous}); candidate in {r.out}")
        raise typer.Exit(3)


def _parse_filters(specs: list[str]):
    from shopsearch.schema import Filters

    f = Filters()
    for spec in specs or []:
        if "=" not in spec:
            _fail(f"--filter expects field=value, got {spec!r}")
        k, v = spec.split("=", 1)
        vals = [x.strip() for x in v.split("|") if x.strip()]
        if k in ("type", "colour", "color", "gender", "brand"):
            getattr(f, "colour" if k == "color" else k).extend(vals)
        elif k == "price_min":
            f.price_min = float(v)
        elif k == "price_max":
            f.price_max = float(v)
        else:
            f.attrs.setdefault(k, []).extend(vals)
    return f


@app.command()
def search(
    text: Optional[str] = typer.Argument(None, help="What the shopper typed."),
    image: list[Path] = typer.Option([], "--image", help="Query photo (repeatable)."),
    index: Optional[str] = IndexOpt,
    k: int = typer.Option(10, "--k", "-k"),
    page: int = typer.Option(1, "--page"),
    negative: Optional[str] = typer.Option(None, "--not", help="Steer away from this (e.g. 'sports')."),
    filters: list[str] = typer.Option([], "--filter", "-f", help="field=value[|value], price_min=, price_max="),
    sort: str = typer.Option("relevance", "--sort", help="relevance, price_asc, price_desc, title"),
    fusion: Optional[str] = typer.Option(None, "--fusion", help="rrf or weighted"),
    image_only: bool = typer.Option(False, "--image-only", help="Match product photos only."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Search and print a readable table (or JSON)."""
    from shopsearch.schema import Query

    if not text and not image:
        _fail("give a query text and/or --image PATH")
    for p in image:
        if not p.exists():
            _fail(f"image {p} does not exist")
    eng = _engine(index)
    try:
        q = Query(text=text, images=[str(p) for p in image], negative=negative, filters=_parse_filters(filters),
                  sort=sort, page=page, page_size=k, fusion=fusion, fields=["image"] if image_only else None)
    except ValueError as e:
        _fail(str(e))
    res = eng.search(q)
    if as_json:
        typer.echo(res.model_dump_json(indent=2))
        return
    _print_result(res)


def _print_result(res) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{res.total} results in {res.took_ms:.1f} ms", show_lines=False)
    for col in ("#", "id", "title", "type", "colour", "gender", "price", "score", "why"):
        t.add_column(col, overflow="fold")
    start = (res.page - 1) * res.page_size
    for i, h in enumerate(res.hits, start + 1):
        why = ", ".join(f"{k}={v:.3g}" for k, v in h.parts.items() if not k.endswith(("_sim", "_score")))
        t.add_row(str(i), h.id, h.title[:60], h.type, h.colour, h.gender, "" if h.price is None else f"{h.price:.2f}",
                  f"{h.score:.4f}", why)
    c = Console(width=160)
    c.print(t)
    if res.intent:
        keep = {k: v for k, v in res.intent.items() if v not in (None, [], {}, "")}
        c.print(f"understood: {json.dumps(keep, ensure_ascii=False)}")
    for name, counts in res.facets.items():
        c.print(f"{name}: " + ", ".join(f"{k} ({v})" for k, v in list(counts.items())[:8]))


@app.command("search-batch")
def search_batch(
    queries: Path = typer.Argument(..., help="Query JSONL (text, image, audio, video, fields, split)."),
    index: Optional[str] = IndexOpt,
    out: Path = typer.Option(..., "--out", help="TREC run file to write."),
    k: int = typer.Option(100, "--k"),
    unseen_index: Optional[str] = typer.Option(None, "--unseen-index", help="Index for split=unseen queries."),
    tag: str = typer.Option("shopsearch", "--tag"),
) -> None:
    """Run a query file and write a TREC run (qid Q0 product_id rank score tag)."""
    from shopsearch.eval.runner import load_queries, run_batch, write_trec

    eng = _engine(index)
    un = _engine(unseen_index) if unseen_index else None
    try:
        qs = load_queries(queries)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    run = run_batch(eng, qs, k, un, media=_media())
    write_trec(run, out, tag)
    typer.echo(f"wrote {sum(len(v) for v in run.values())} lines for {len(run)} queries to {out}")


def _media():
    try:
        from shopsearch.media import queries as media  # type: ignore[attr-defined]

        return media
    except ImportError:
        return None


@app.command("eval")
def evaluate(
    queries: Path = typer.Option(..., "--queries"),
    qrels: Path = typer.Option(..., "--qrels"),
    index: Optional[str] = IndexOpt,
    k: int = typer.Option(100, "--k"),
    unseen_index: Optional[str] = typer.Option(None, "--unseen-index", help="Index for split=unseen queries."),
    run_out: Optional[Path] = typer.Option(None, "--run-out", help="Also keep the TREC run here."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """nDCG@10, Recall@100 and MRR, overall and per query prefix."""
    from shopsearch.eval.metrics import evaluate_run, load_qrels
    from shopsearch.eval.runner import load_queries, run_batch, write_trec

    eng = _engine(index)
    un = _engine(unseen_index) if unseen_index else None
    run = run_batch(eng, load_queries(queries), k, un, media=_media())
    if run_out:
        write_trec(run, run_out)
    res = evaluate_run({q: [p for p, _ in v] for q, v in run.items()}, load_qrels(qrels), k)
    if as_json:
        typer.echo(json.dumps(res, indent=2))
        return
    typer.echo(f"{'queries':<10}{'n':>5}{'nDCG@10':>10}{f'R@{k}':>10}{'MRR':>8}")
    for name in ["all"] + sorted(x for x in res if x != "all"):
        m = res[name]
        typer.echo(f"{name:<10}{m['queries']:>5}{m['ndcg@10']:>10.4f}{m[f'recall@{k}']:>10.4f}{m['mrr']:>8.4f}")


@app.command()
def serve(
    index: Optional[str] = IndexOpt,
    host: Optional[str] = typer.Option(None, "--host", help="Default 127.0.0.1."),
    port: Optional[int] = typer.Option(None, "--port", help="Default 8000."),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the web page at /."""
    from shopsearch.api.app import serve as run_server

    s = get_settings()
    path = _index_path(index)
    if not path.startswith(("http://", "https://")) and not (Path(path) / "records.sqlite").exists():
        _fail(f"No index at {path}: run `shopsearch ingest CATALOGUE --index {path}` first")
    eng = _engine(path)
    eng.encoder  # refuse a mismatched index here, before the server starts; the server reuses it
    run_server(path, host or s.host, port or s.port, s, engine=eng)


keys_app = typer.Typer(no_args_is_help=True, help="API keys: search-only keys for pages and the public API, "
                       "admin keys for the rest (stored hashed; the secret is shown once).")
app.add_typer(keys_app, name="keys")


def _keys(index: Optional[str]):
    from shopsearch.api.keys import KeyStore

    path = _index_path(index)
    store = KeyStore.for_index(path, get_settings())
    if store is None:
        _fail(f"{path} keeps no key store: set SHOPSEARCH_KEYS_PATH")
    if not get_settings().keys_path and not (Path(path) / "records.sqlite").exists():
        _fail(f"No index at {path}")
    return store


@keys_app.command("create")
def keys_create(
    name: str = typer.Argument(..., help="What the key is for, e.g. 'storefront'."),
    scope: str = typer.Option("search", "--scope", help="search (search endpoints only) or admin (everything)."),
    rate: Optional[int] = typer.Option(None, "--rate", help="Requests a minute (0: no limit; default from settings)."),
    index: Optional[str] = IndexOpt,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a key and print its secret (this once: only its hash is kept)."""
    if scope not in ("search", "admin"):
        _fail("--scope is search or admin")
    k = _keys(index).create(name, scope, rate)  # type: ignore[arg-type]
    if as_json:
        typer.echo(k.model_dump_json())
    else:
        typer.echo(f"{k.id}  {k.scope}  {k.name}  {k.rate_limit_per_minute}/min\n{k.key}")


@keys_app.command("list")
def keys_list(index: Optional[str] = IndexOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """The keys (never their secrets)."""
    keys = _keys(index).list()
    if as_json:
        typer.echo(json.dumps([k.model_dump() for k in keys]))
        return
    for k in keys:
        state = "revoked" if k.revoked else "active"
        typer.echo(f"{k.id}  {k.scope:<6}  {state:<7}  {k.rate_limit_per_minute:>6}/min  {k.prefix}...  {k.name}")


rules_app = typer.Typer(no_args_is_help=True, help="Merchandising rules: pin, hide, bury or boost products for "
                        "the queries a rule matches (a served index applies a change within a second).")
app.add_typer(rules_app, name="rules")
synonyms_app = typer.Typer(no_args_is_help=True, help="Synonyms: multi-way sets, or one-way with --input.")
app.add_typer(synonyms_app, name="synonyms")


def _open(index: Optional[str]):
    from shopsearch.index.base import open_index

    try:
        return open_index(_index_path(index))
    except FileNotFoundError as e:
        _fail(str(e))


def _model(cls, text: str):
    from pydantic import ValidationError

    try:
        return cls.model_validate_json(text)
    except ValidationError as e:
        _fail("; ".join(f"{'.'.join(map(str, x['loc'])) or 'rule'}: {x['msg']}" for x in e.errors()))


@rules_app.command("add")
def rules_add(rule: str = typer.Argument(..., help='The rule as JSON, or @file.json: {"id": "summer-dress", '
                                         '"match": {"query": "red dress"}, "pin": [{"id": "123", "position": 1}]}'),
              index: Optional[str] = IndexOpt) -> None:
    """Create or replace a rule by its id."""
    from shopsearch.ranking.rules import Rule, save_rule

    text = Path(rule[1:]).read_text(encoding="utf-8") if rule.startswith("@") else rule
    r = _model(Rule, text)
    typer.echo(f"{'replaced' if save_rule(_open(index), r) else 'added'} rule {r.id}")


@rules_app.command("list")
def rules_list(index: Optional[str] = IndexOpt) -> None:
    """The rules, one JSON object a line."""
    from shopsearch.ranking.rules import list_rules

    for r in list_rules(_open(index)):
        typer.echo(r.model_dump_json(exclude_defaults=True))


@rules_app.command("delete")
def rules_delete(rule_id: str = typer.Argument(...), index: Optional[str] = IndexOpt) -> None:
    from shopsearch.ranking.rules import delete_rule

    if not delete_rule(_open(index), rule_id):
        _fail(f"no rule {rule_id}")
    typer.echo(f"deleted rule {rule_id}")


@synonyms_app.command("add")
def synonyms_add(set_id: str = typer.Argument(..., help="The set's id."),
                 words: list[str] = typer.Argument(..., help="The synonyms."),
                 one_way: Optional[str] = typer.Option(None, "--input", help="One-way: only this word finds them."),
                 index: Optional[str] = IndexOpt) -> None:
    """Create or replace a synonym set: `shopsearch synonyms add kicks sneakers trainers kicks`."""
    import json as _json

    from shopsearch.query.synonyms import SynonymSet, save_synonyms

    s = _model(SynonymSet, _json.dumps({"id": set_id, "synonyms": words, "input": one_way}))
    typer.echo(f"{'replaced' if save_synonyms(_open(index), s) else 'added'} synonym set {s.id}")


@synonyms_app.command("list")
def synonyms_list(index: Optional[str] = IndexOpt) -> None:
    from shopsearch.query.synonyms import list_synonyms

    for s in list_synonyms(_open(index)):
        typer.echo(s.model_dump_json(exclude_none=True))


@synonyms_app.command("delete")
def synonyms_delete(set_id: str = typer.Argument(...), index: Optional[str] = IndexOpt) -> None:
    from shopsearch.query.synonyms import delete_synonyms

    if not delete_synonyms(_open(index), set_id):
        _fail(f"no synonym set {set_id}")
    typer.echo(f"deleted synonym set {set_id}")


experiments_app = typer.Typer(no_args_is_help=True, help="A/B tests of two ranking configurations, split by session.")
app.add_typer(experiments_app, name="experiments")


@experiments_app.command("start")
def experiments_start(experiment: str = typer.Argument(..., help='The test as JSON, or @file.json: {"name": "t1", '
                                                       '"arms": [{"name": "control"}, {"name": "b", "tuned": true}]}'),
                      index: Optional[str] = IndexOpt) -> None:
    """Start (or replace) an A/B test."""
    from shopsearch.ranking.experiments import Experiment, save_experiment

    text = Path(experiment[1:]).read_text(encoding="utf-8") if experiment.startswith("@") else experiment
    e = _model(Experiment, text)
    try:
        replaced = save_experiment(_open(index), e)
    except ValueError as err:
        _fail(str(err))
    typer.echo(f"{'replaced' if replaced else 'started'} experiment {e.name}")


@experiments_app.command("list")
def experiments_list(index: Optional[str] = IndexOpt) -> None:
    from shopsearch.ranking.experiments import list_experiments

    for e in list_experiments(_open(index)):
        typer.echo(e.model_dump_json(exclude_defaults=True))


@experiments_app.command("results")
def experiments_results(name: str = typer.Argument(...), index: Optional[str] = IndexOpt) -> None:
    """Per-arm click-through and conversion with Wilson 95% intervals, and the p-values."""
    from shopsearch.events.store import EventStore
    from shopsearch.ranking.experiments import results

    s = get_settings()
    try:
        r = results(_open(index), EventStore.for_index(_index_path(index), s.events_url), name)
    except KeyError as err:
        _fail(err.args[0])
    for a in r.arms:
        typer.echo(f"{a.arm:<16}{a.searches:>7} searches  CTR {a.ctr.rate:.3f} [{a.ctr.low:.3f}, {a.ctr.high:.3f}]  "
                   f"conversion {a.conversion.rate:.3f} [{a.conversion.low:.3f}, {a.conversion.high:.3f}]")
    typer.echo(f"p (CTR) {r.ctr_p_value:.3g}  p (conversion) {r.conversion_p_value:.3g}  leader {r.leader or '-'}")


@experiments_app.command("stop")
def experiments_stop(name: str = typer.Argument(...), winner: Optional[str] = typer.Option(None, "--winner"),
                     index: Optional[str] = IndexOpt) -> None:
    from shopsearch.ranking.experiments import stop_experiment

    try:
        stop_experiment(_open(index), name, winner)
    except KeyError as err:
        _fail(err.args[0])
    typer.echo(f"stopped experiment {name}")


@experiments_app.command("promote")
def experiments_promote(name: str = typer.Argument(...), arm: str = typer.Argument(...),
                        index: Optional[str] = IndexOpt) -> None:
    """Stop the test and make the arm the index's default ranking."""
    from shopsearch.ranking.experiments import promote

    try:
        promote(_open(index), name, arm)
    except KeyError as err:
        _fail(err.args[0])
    typer.echo(f"promoted {arm} of {name}")


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(...), index: Optional[str] = IndexOpt) -> None:
    """Revoke a key: a running server refuses it within a second."""
    store = _keys(index)
    if store.get(key_id) is None:
        _fail(f"no key {key_id}")
    typer.echo(f"revoked {key_id}" if store.revoke(key_id) else f"{key_id} was already revoked")


@app.command()
def tune(
    queries: Path = typer.Option(..., "--queries", help="Query JSONL with judgments in --qrels."),
    qrels: Optional[Path] = typer.Option(None, "--qrels", help="TREC or ESCI qrels; or use --from-clicks."),
    index: Optional[str] = IndexOpt,
    from_clicks: bool = typer.Option(False, "--from-clicks", help="Learn from logged clicks (position-bias corrected)."),
    folds: int = typer.Option(5, "--folds"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report only; do not store the weights."),
) -> None:
    """Learn fusion weights per query type; cross-validated against the defaults."""
    from shopsearch.eval.metrics import load_qrels
    from shopsearch.eval.runner import load_queries, prepare
    from shopsearch.ranking.tune import clicks_to_gains, collect, tune as run_tune

    eng = _engine(index)
    qs = load_queries(queries)
    if from_clicks:
        from shopsearch.events.store import EventStore  # type: ignore[import-not-found]

        store = EventStore.for_index(eng.index.location)
        by_text = {(q.get("text") or "").strip().lower(): q["qid"] for q in qs}
        clicks = [(by_text[e.query_text.strip().lower()], e.product_id, e.position or 1)
                  for e in store.clicks() if e.query_text and e.query_text.strip().lower() in by_text]
        gains = clicks_to_gains(clicks)
    elif qrels:
        gains = load_qrels(qrels).gains
    else:
        _fail("give --qrels R or --from-clicks")
    eng.index.set_meta("fusion_weights", None)  # measure from the defaults
    cached = collect(eng, [(q["qid"], prepare(eng, q, 1000)[1]) for q in qs], gains)
    if not cached:
        _fail("no query has judgments")
    rep = run_tune(cached, eng.settings.rrf_k, folds)
    typer.echo(f"{'query type':<18}{'n':>5}{'default':>10}{'tuned':>10}   (held-out nDCG@10, {folds}-fold CV)")
    for qt, m in rep.cv.items():
        typer.echo(f"{qt:<18}{m['queries']:>5}{m['default']:>10.4f}{m['tuned']:>10.4f}")
    for qt, w in rep.weights.items():
        typer.echo(f"{qt}: {json.dumps(w)}")
    if not dry_run:
        eng.index.set_meta("fusion_weights", rep.weights)
        typer.echo(f"stored in {eng.index.location}")


@app.command()
def modifiers(
    index: Optional[str] = IndexOpt,
    set_: Optional[str] = typer.Option(None, "--set", help='JSON list, e.g. \'[{"field": "rating", "weight": 0.2, "transform": "log1p"}]\'; "[]" clears.'),
) -> None:
    """Show or set an index's score modifiers (popularity, rating, stock, price...)."""
    from shopsearch.ranking.modifiers import Modifier

    eng = _engine(index)
    if set_ is not None:
        try:
            mods = json.loads(set_)
            [Modifier.parse(m) for m in mods]
        except (ValueError, KeyError, TypeError) as e:
            _fail(f"--set: {e}")
        eng.index.set_meta("score_modifiers", mods)
    typer.echo(json.dumps(eng.index.get_meta("score_modifiers") or [], indent=2))


@app.command()
def stats(index: Optional[str] = IndexOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """What is in an index."""
    eng = _engine(index)
    st = eng.stats()
    if as_json:
        typer.echo(json.dumps(st, indent=2))
    else:
        for k_, v in st.items():
            typer.echo(f"{k_}: {v}")


@app.command()
def check(index: Optional[str] = IndexOpt) -> None:
    """Check an index is whole (after a crash, a full disk, a copy): exit 1 if not."""
    eng = _engine(index)
    verify = getattr(eng.index, "verify", None)
    if verify is None:
        _fail(f"{type(eng.index).__name__} has no offline check: the server keeps its own consistency")
    problems = verify()
    for p in problems:
        typer.echo(f"problem: {p}", err=True)
    typer.echo(f"{eng.index.count()} products in {eng.index.location}: " + ("ok" if not problems else f"{len(problems)} problems"))
    if problems:
        raise typer.Exit(1)


def main() -> None:
    """The `shopsearch` command: an index that does not match this version or model
    is a one-line error that says what to run, not a traceback."""
    from shopsearch.index.base import IndexMismatch

    try:
        app()
    except IndexMismatch as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise SystemExit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
