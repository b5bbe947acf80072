"""A/B tests of ranking configurations. An experiment has two named arms, each a
ranking configuration (fusion weights and mode, score modifiers, rules on or off, or
"tuned": the index's own tuned weights), and a traffic split. A session is assigned by
a hash of the experiment's name and the session id, so a shopper stays in one arm for
the whole test, and sessions spread evenly; searches without a session are not in
the test. Experiments live in the index's metadata like rules, so every serving process
sees a start, a stop or a promotion within a second. Results (per-arm CTR and
conversion with Wilson intervals, a two-proportion z-test) come from the search log
and events (events/analytics.py)."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from shopsearch.events.analytics import ArmFigures, Period, arm_figures, two_proportion_p
from shopsearch.events.store import EventStore
from shopsearch.ranking.modifiers import Modifier
from shopsearch.schema import Query, Weights
from shopsearch.settings import Settings, get_settings

BUCKETS = 10_000
QUERY_TYPES = ("keyword", "attribute", "descriptive", "photo", "photo_only_text")  # ranking/tune.py's
CACHE_S = 1.0  # the running experiments are re-read at most this often per process


class Arm(BaseModel):
    """One ranking configuration. Unset fields take the index's defaults."""

    name: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")
    weights: Weights = Field(default_factory=Weights)
    fusion: Literal["rrf", "weighted"] | None = None
    modifiers: list[dict[str, Any]] | None = None  # in place of the index's score modifiers
    rules: bool = True
    # True: the index's tuned weights (`shopsearch tune`), whatever `weights` says; False: the
    # untuned defaults (the settings') for every weight not given, so "tuned vs not" can be tested
    tuned: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> "Arm":
        for m in self.modifiers or []:
            Modifier.parse(m)  # refuses an unknown transform with a clear error
        return self

    def apply(self, q: Query, settings: Settings | None = None) -> Query:
        """The query ranked this arm's way (`settings`: where the untuned defaults come from)."""
        upd: dict[str, Any] = {"rules": self.rules}
        upd["weights"] = Weights() if self.tuned else self.weights
        if self.tuned is False:
            s = settings or get_settings()
            fill = {n: getattr(s, f"weight_{n}") for n in Weights.model_fields if n != "attributes"}
            fill["attributes"] = s.attribute_boost
            given = self.weights.model_dump()
            upd["weights"] = Weights(**{n: given[n] if given[n] is not None else v for n, v in fill.items()})
        if self.fusion is not None:
            upd["fusion"] = self.fusion
        if self.modifiers is not None:
            upd["modifiers"] = self.modifiers
        return q.model_copy(update=upd)


class Experiment(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    arms: list[Arm] = Field(min_length=2, max_length=2)
    split: float = Field(default=0.5, gt=0, lt=1, description="share of sessions in the first arm")
    status: Literal["running", "stopped"] = "running"
    winner: str | None = None
    promoted: bool = False
    started: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    stopped: datetime | None = None
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> "Experiment":
        if self.arms[0].name == self.arms[1].name:
            raise ValueError("an experiment's two arms need different names")
        if self.winner is not None and self.winner not in self.arm_names():
            raise ValueError(f"winner {self.winner!r} is not an arm ({', '.join(self.arm_names())})")
        return self

    def arm_names(self) -> list[str]:
        return [a.name for a in self.arms]

    def arm(self, name: str) -> Arm:
        for a in self.arms:
            if a.name == name:
                return a
        raise KeyError(f"no arm {name!r} in experiment {self.name!r} ({', '.join(self.arm_names())})")

    def assign(self, session_id: str) -> Arm:
        """Stable per session: sha256(name + session) mod 10000 against the split."""
        h = int.from_bytes(hashlib.sha256(f"{self.name}\x00{session_id}".encode()).digest()[:8], "big")
        return self.arms[0] if h % BUCKETS < round(self.split * BUCKETS) else self.arms[1]


class ArmResult(ArmFigures):
    config: Arm


class Results(BaseModel):
    experiment: Experiment
    arms: list[ArmResult]
    ctr_p_value: float
    conversion_p_value: float
    leader: str | None  # the arm with the higher CTR, when the difference is significant at 5%


# -- the store: the index's metadata ("experiments") ---------------------------------
def list_experiments(index) -> list[Experiment]:
    return [Experiment.model_validate(d) for d in (index.get_meta("experiments") or [])]


def get_experiment(index, name: str) -> Experiment | None:
    return next((e for e in list_experiments(index) if e.name == name), None)


def _write(index, exps: list[Experiment]) -> None:
    index.set_meta("experiments", [e.model_dump(mode="json") for e in exps])
    _cache.clear()


def save_experiment(index, exp: Experiment) -> bool:
    """Create or replace by name; True if it replaced one. One test runs at a time, so a
    session's ranking is never decided by two."""
    others = [e for e in list_experiments(index) if e.name != exp.name]
    if exp.status == "running" and any(e.status == "running" for e in others):
        raise ValueError("another experiment is running: stop it first")
    replaced = len(others) < len(index.get_meta("experiments") or [])
    _write(index, others + [exp])
    return replaced


def delete_experiment(index, name: str) -> bool:
    exps = list_experiments(index)
    keep = [e for e in exps if e.name != name]
    if len(keep) == len(exps):
        return False
    _write(index, keep)
    return True


def stop_experiment(index, name: str, winner: str | None = None) -> Experiment:
    exp = get_experiment(index, name)
    if exp is None:
        raise KeyError(f"no experiment {name!r}")
    if winner is not None:
        exp.arm(winner)
    exp = exp.model_copy(update={"status": "stopped", "winner": winner or exp.winner,
                                 "stopped": exp.stopped or datetime.now(timezone.utc)})
    _write(index, [e if e.name != name else exp for e in list_experiments(index)])
    return exp


def promote(index, name: str, arm_name: str) -> Experiment:
    """Stop the test and make the arm the index's default: its weights go into
    "fusion_weights" (per query type, the shape `shopsearch tune` writes, over what is
    tuned there), its modifiers into "score_modifiers". A "tuned" arm keeps the tuned weights."""
    exp = stop_experiment(index, name, arm_name)
    arm = exp.arm(arm_name)
    given = {k: v for k, v in arm.weights.model_dump().items() if v is not None}
    if arm.tuned is False:  # back to the untuned defaults, with the arm's own weights over them
        index.set_meta("fusion_weights", None if not given else {qt: dict(given) for qt in QUERY_TYPES})
    elif given and not arm.tuned:
        tuned = index.get_meta("fusion_weights") or {}
        index.set_meta("fusion_weights", {qt: {**tuned.get(qt, {}), **given} for qt in sorted(set(QUERY_TYPES) | set(tuned))})
    if arm.modifiers is not None:
        index.set_meta("score_modifiers", arm.modifiers)
    exp = exp.model_copy(update={"promoted": True})
    _write(index, [e if e.name != name else exp for e in list_experiments(index)])
    return exp


_cache: dict[int, tuple[float, Experiment | None]] = {}


def running(index) -> Experiment | None:
    """The running experiment, re-read at most once a second (every search asks)."""
    hit = _cache.get(id(index))
    now = time.monotonic()
    if hit is not None and now - hit[0] < CACHE_S:
        return hit[1]
    exp = next((e for e in list_experiments(index) if e.status == "running"), None)
    _cache[id(index)] = (now, exp)
    return exp


def results(index, store: EventStore, name: str, period: Period | None = None) -> Results:
    exp = get_experiment(index, name)
    if exp is None:
        raise KeyError(f"no experiment {name!r}")
    figs = {f.arm: f for f in arm_figures(store, name, period)}
    arms = []
    for a in exp.arms:
        f = figs.get(a.name) or ArmFigures.model_validate(
            {"arm": a.name, "searches": 0, "sessions": 0, "clicks": 0,
             "ctr": {"successes": 0, "trials": 0, "rate": 0.0, "low": 0.0, "high": 1.0},
             "conversion": {"successes": 0, "trials": 0, "rate": 0.0, "low": 0.0, "high": 1.0}})
        arms.append(ArmResult(**f.model_dump(), config=a))
    p_ctr = two_proportion_p(arms[0].ctr, arms[1].ctr)
    p_conv = two_proportion_p(arms[0].conversion, arms[1].conversion)
    leader = max(arms, key=lambda r: r.ctr.rate).arm if p_ctr < 0.05 else None
    return Results(experiment=exp, arms=arms, ctr_p_value=p_ctr, conversion_p_value=p_conv, leader=leader)
