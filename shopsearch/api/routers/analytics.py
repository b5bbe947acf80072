"""The operator's view: search analytics (GET /admin/analytics), the dashboard page
(GET /admin: the page itself is open, every data call it makes needs the admin token)
and A/B tests of ranking configurations (/admin/experiments)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, ValidationError

from shopsearch.api.deps import engine, events
from shopsearch.events.analytics import Period, summary
from shopsearch.events.store import EventStore
from shopsearch.settings import Settings
from shopsearch.ranking.experiments import (Experiment, Results, delete_experiment, get_experiment,
                                            list_experiments, promote, results, save_experiment, stop_experiment)

STATIC = Path(__file__).resolve().parents[1] / "static"


class Promotion(BaseModel):
    arm: str | None = None  # default: the experiment's winner, else the significant leader


class Stop(BaseModel):
    winner: str | None = None


def period_of(since: str | None, until: str | None, days: float | None) -> Period:
    try:
        return Period.of(since, until, days)
    except (ValueError, ValidationError) as e:
        raise HTTPException(422, f"period: {e}") from None


def router(s: Settings, admin: Callable) -> APIRouter:
    r = APIRouter()

    @r.get("/admin", include_in_schema=False)
    def dashboard() -> FileResponse:
        """The dashboard's HTML (it asks for the token; its data calls carry it)."""
        return FileResponse(STATIC / "admin.html", media_type="text/html")

    @r.get("/admin/analytics", dependencies=[Depends(admin)])
    def analytics(since: str | None = None, until: str | None = None, days: float | None = None, limit: int = 20,
                  store: EventStore = Depends(events)) -> dict:
        """Top queries, zero-result queries, low click-through queries, click positions and
        conversions per query over a period (`since`/`until` ISO times, or `days`; default all)."""
        return summary(store, period_of(since, until, days), min(max(limit, 1), 200),
                       min_searches=s.low_ctr_min_searches, max_ctr=s.low_ctr_max)

    @r.post("/admin/experiments", dependencies=[Depends(admin)])
    def experiment_put(exp: Experiment, eng=Depends(engine)) -> dict:
        """Start (or replace) an A/B test of two ranking configurations."""
        try:
            replaced = save_experiment(eng.index, exp)
        except ValueError as e:
            raise HTTPException(409, str(e)) from None
        return {"name": exp.name, "replaced": replaced}

    @r.get("/admin/experiments", dependencies=[Depends(admin)])
    def experiments_get(eng=Depends(engine)) -> list[Experiment]:
        return list_experiments(eng.index)

    @r.get("/admin/experiments/{name}", dependencies=[Depends(admin)], response_model=Results)
    def experiment_results(name: str, since: str | None = None, until: str | None = None, days: float | None = None,
                           eng=Depends(engine), store: EventStore = Depends(events)) -> Results:
        """Per-arm searches, click-through and conversion with Wilson 95% intervals, and p-values."""
        try:
            return results(eng.index, store, name, period_of(since, until, days))
        except KeyError as e:
            raise HTTPException(404, e.args[0]) from None

    @r.post("/admin/experiments/{name}/stop", dependencies=[Depends(admin)])
    def experiment_stop(name: str, body: Stop | None = None, eng=Depends(engine)) -> Experiment:
        try:
            return stop_experiment(eng.index, name, body.winner if body else None)
        except KeyError as e:
            raise HTTPException(404, e.args[0]) from None

    @r.post("/admin/experiments/{name}/promote", dependencies=[Depends(admin)])
    def experiment_promote(name: str, body: Promotion | None = None, eng=Depends(engine),
                           store: EventStore = Depends(events)) -> Experiment:
        """Stop the test and make an arm the index's default ranking."""
        exp = get_experiment(eng.index, name)
        if exp is None:
            raise HTTPException(404, f"no experiment {name!r}")
        arm = (body.arm if body else None) or exp.winner or results(eng.index, store, name).leader
        if arm is None:
            raise HTTPException(409, "no winner yet: name the arm to promote, or wait for a significant difference")
        try:
            return promote(eng.index, name, arm)
        except KeyError as e:
            raise HTTPException(422, e.args[0]) from None

    @r.delete("/admin/experiments/{name}", dependencies=[Depends(admin)])
    def experiment_delete(name: str, eng=Depends(engine)) -> dict:
        if not delete_experiment(eng.index, name):
            raise HTTPException(404, f"no experiment {name!r}")
        return {"deleted": name}

    return r
