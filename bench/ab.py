"""Does the A/B test find the better arm? Simulated shoppers with a known, hidden
preference (they only click products from this season: year >= 2015) search a copy of
the demo index through the real engine; two arms, "control" (the index's ranking) and
"new" (a score modifier that lifts recent products), split by the experiments module's
session hash; searches logged and clicks recorded in a real EventStore, and the
results read back as the server does (ranking/experiments.py). Over several seeds:
does the test pick "new", and does an A/A test (two identical arms) stay quiet?

Shoppers look down the page with a position bias (examine position k with probability
1/k^0.7) and click a liked product they examine with probability 0.7; a click is
followed by an add to cart with probability 0.3. Rankings of the same query in the
same arm are the same, so each (query, arm) is searched once per seed and reused.

    python bench/ab.py --index var/n-demo-index [--sessions 600] [--seeds 5]"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shopsearch.engine import Engine  # noqa: E402
from shopsearch.events.store import Event, EventStore, SearchLog  # noqa: E402
from shopsearch.ranking.experiments import Arm, Experiment, results, save_experiment  # noqa: E402
from shopsearch.schema import Query  # noqa: E402

QUERIES = ["shirt", "black shoes", "watch", "dress", "jeans", "men t-shirt", "women handbag", "sports shoes",
           "blue top", "sunglasses", "kurta", "white sneakers", "belt", "red dress", "casual shoes"]
log = logging.getLogger("bench.ab")


def season(engine: Engine) -> set[str]:
    """The hidden preference: the ids of this season's products."""
    out = set()
    for pid, year in zip(engine.index.ids(), engine.index.column("year")):
        try:
            if int(float(year)) >= 2015:
                out.add(pid)
        except (TypeError, ValueError):
            pass
    return out


def run(engine: Engine, exp: Experiment, sessions: int, seed: int) -> dict:
    rnd = random.Random(seed)
    liked = season(engine)
    store = EventStore(f"sqlite:///{tempfile.mkdtemp(prefix='ab-events-')}/events.sqlite")
    save_experiment(engine.index, exp)
    cache: dict[tuple[str, str], list] = {}
    for s in range(sessions):
        sid = f"seed{seed}-shopper{s}-{uuid.uuid4().hex[:6]}"
        arm = exp.assign(sid)
        for _ in range(rnd.randint(1, 3)):
            text = rnd.choice(QUERIES)
            key = (text, arm.name)
            if key not in cache:
                res = engine.search(arm.apply(Query(text=text, page_size=10, session=sid, personalize=False), engine.settings))
                cache[key] = [res.hits, res.total, res.took_ms]
            hits, total, took = cache[key]
            qid = uuid.uuid4().hex
            store.log_search(SearchLog(query_id=qid, query=text, modality="text", total=total, latency_ms=took,
                                       session_id=sid, experiment=exp.name, arm=arm.name))
            for pos, h in enumerate(hits, 1):
                if rnd.random() < pos ** -0.7 and h.id in liked and rnd.random() < 0.7:
                    store.record(Event(type="click", session_id=sid, product_id=h.id, query_id=qid, position=pos))
                    if rnd.random() < 0.3:
                        store.record(Event(type="add_to_cart", session_id=sid, product_id=h.id, query_id=qid))
                    break
    r = results(engine.index, store, exp.name)
    engine.index.set_meta("experiments", [])
    return {"arms": {a.arm: a for a in r.arms}, "p": r.ctr_p_value, "p_conv": r.conversion_p_value, "leader": r.leader}


def show(tag: str, out: dict) -> None:
    cells = []
    for name, a in out["arms"].items():
        cells.append(f"{name}: CTR {a.ctr.rate:.3f} [{a.ctr.low:.3f}, {a.ctr.high:.3f}] of {a.searches} searches, "
                     f"conv {a.conversion.rate:.3f} [{a.conversion.low:.3f}, {a.conversion.high:.3f}]")
    print(f"{tag}  " + " | ".join(cells) + f" | p={out['p']:.2g} leader={out['leader']}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/n-demo-index")
    ap.add_argument("--sessions", type=int, default=600)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--weight", type=float, default=0.2, help="the new arm's year modifier weight")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)  # a dependency turns on DEBUG at import
    tmp = Path(tempfile.mkdtemp(prefix="ab-index-")) / "idx"
    shutil.copytree(args.index, tmp)  # the experiments are written to the index's metadata
    engine = Engine(str(tmp))
    ab = Experiment(name="new-season", arms=[Arm(name="control"),
                                             Arm(name="new", modifiers=[{"field": "year", "weight": args.weight}])])
    aa = Experiment(name="a-a", arms=[Arm(name="control"), Arm(name="same")])
    picked = quiet = 0
    print(f"{engine.index.count()} products, {args.sessions} sessions per run, shoppers click only year >= 2015")
    for seed in range(args.seeds):
        out = run(engine, ab.model_copy(update={"name": f"new-season-{seed}"}), args.sessions, seed)
        show(f"A/B seed {seed}", out)
        picked += out["leader"] == "new"
        same = run(engine, aa.model_copy(update={"name": f"a-a-{seed}"}), args.sessions, 1000 + seed)
        show(f"A/A seed {seed}", same)
        quiet += same["leader"] is None
    print(f"A/B picked the better arm (new) in {picked}/{args.seeds} runs; "
          f"A/A found no significant difference in {quiet}/{args.seeds} runs")
    shutil.rmtree(tmp.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
