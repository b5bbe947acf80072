"""Analytics over the event store: what shoppers searched for, what found nothing,
what found things nobody clicked, where clicks land, what converted, and per A/B arm
figures with confidence intervals. Pure functions of (store, period): SQL does the
counting, so a month of searches is one grouped query each, not a Python loop.

Clicks and conversions join to searches by query id (the id each search answer
carries and the page sends back with its events)."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone

from pydantic import BaseModel, model_validator
from sqlalchemy import and_, case, distinct, func, select
from sqlalchemy.orm import Session

from shopsearch.events.store import EventRow, EventStore, SearchRow

CONVERSIONS = ("add_to_cart", "purchase")


class Period(BaseModel):
    """Unix times; `since`/`until` as ISO times or `days` back from now."""

    since: float | None = None
    until: float | None = None

    @classmethod
    def of(cls, since: str | None = None, until: str | None = None, days: float | None = None) -> "Period":
        def ts(v: str) -> float:
            d = datetime.fromisoformat(v.replace("Z", "+00:00"))
            return (d if d.tzinfo else d.replace(tzinfo=timezone.utc)).timestamp()

        start = ts(since) if since else (time.time() - days * 86400 if days is not None else None)
        return cls(since=start, until=ts(until) if until else None)

    @model_validator(mode="after")
    def _order(self) -> "Period":
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError("the period's end must come after its start")
        return self

    def where(self, col) -> list:
        out = []
        if self.since is not None:
            out.append(col >= self.since)
        if self.until is not None:
            out.append(col < self.until)
        return out


class QueryCount(BaseModel):
    query: str
    count: int


class QueryCtr(BaseModel):
    query: str
    searches: int
    clicks: int
    ctr: float


class QueryConversions(BaseModel):
    query: str
    searches: int
    add_to_cart: int
    purchase: int
    rate: float  # searches followed by an add to cart or a purchase


class Rate(BaseModel):
    successes: int
    trials: int
    rate: float
    low: float  # Wilson 95% interval
    high: float


class ArmFigures(BaseModel):
    arm: str
    searches: int
    sessions: int
    clicks: int
    ctr: Rate  # searches with at least one click
    conversion: Rate  # searches with an add to cart or purchase


def wilson(successes: int, trials: int, z: float = 1.96) -> Rate:
    """The Wilson score interval: sound at small counts and near 0 or 1, unlike the normal one."""
    if trials <= 0:
        return Rate(successes=0, trials=0, rate=0.0, low=0.0, high=1.0)
    p = successes / trials
    d = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / d
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / d
    return Rate(successes=successes, trials=trials, rate=p, low=max(0.0, centre - half), high=min(1.0, centre + half))


def two_proportion_p(a: Rate, b: Rate) -> float:
    """Two-sided p-value of a pooled two-proportion z-test (1.0 when it cannot tell)."""
    if a.trials == 0 or b.trials == 0:
        return 1.0
    pooled = (a.successes + b.successes) / (a.trials + b.trials)
    se = math.sqrt(pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials))
    if se == 0:
        return 1.0
    z = abs(a.rate - b.rate) / se
    return math.erfc(z / math.sqrt(2))


def _searched(period: Period) -> list:
    return [SearchRow.query != ""] + period.where(SearchRow.ts)


def top_queries(store: EventStore, period: Period, limit: int = 20) -> list[QueryCount]:
    n = func.count().label("n")
    q = select(SearchRow.query, n).where(*_searched(period)).group_by(SearchRow.query).order_by(n.desc(), SearchRow.query)
    with Session(store.engine) as s:
        return [QueryCount(query=a, count=int(c)) for a, c in s.execute(q.limit(limit))]


def zero_result_queries(store: EventStore, period: Period, limit: int = 50) -> list[QueryCount]:
    """Queries that found nothing at least once in the period (a synonym or a rule may fix them)."""
    n = func.count().label("n")
    q = (select(SearchRow.query, n).where(SearchRow.total == 0, *_searched(period))
         .group_by(SearchRow.query).order_by(n.desc(), SearchRow.query))
    with Session(store.engine) as s:
        return [QueryCount(query=a, count=int(c)) for a, c in s.execute(q.limit(limit))]


def _clicked_searches(types: tuple[str, ...]):
    """query id -> events of these types on it (a subquery)."""
    return (select(EventRow.query_id.label("qid"), func.count().label("n"))
            .where(EventRow.type.in_(types), EventRow.query_id.is_not(None)).group_by(EventRow.query_id).subquery())


def low_ctr_queries(store: EventStore, period: Period, min_searches: int = 2, max_ctr: float = 0.1,
                    limit: int = 50) -> list[QueryCtr]:
    """Queries that found products but few of whose searches led to a click: results the
    shoppers did not want."""
    c = _clicked_searches(("click",))
    searches = func.count(SearchRow.id)
    clicked = func.count(c.c.qid)
    clicks = func.coalesce(func.sum(c.c.n), 0)
    q = (select(SearchRow.query, searches, clicked, clicks).outerjoin(c, c.c.qid == SearchRow.query_id)
         .where(SearchRow.total > 0, *_searched(period)).group_by(SearchRow.query)
         .having(searches >= min_searches))
    with Session(store.engine) as s:
        rows = [QueryCtr(query=a, searches=int(n), clicks=int(k), ctr=int(cl) / int(n)) for a, n, cl, k in s.execute(q)]
    rows = [r for r in rows if r.ctr <= max_ctr]
    return sorted(rows, key=lambda r: (r.ctr, -r.searches, r.query))[:limit]


def click_positions(store: EventStore, period: Period, max_position: int = 20) -> dict[str, int]:
    """Clicks by result position ("1".."20", and "21+"): how far down shoppers look."""
    q = (select(EventRow.position, func.count()).where(EventRow.type == "click", EventRow.position.is_not(None),
                                                       *period.where(EventRow.ts)).group_by(EventRow.position))
    out = {str(i): 0 for i in range(1, max_position + 1)}
    out[f"{max_position + 1}+"] = 0
    with Session(store.engine) as s:
        for pos, n in s.execute(q):
            key = str(pos) if pos <= max_position else f"{max_position + 1}+"
            out[key] += int(n)
    return out


def conversions_per_query(store: EventStore, period: Period, limit: int = 50) -> list[QueryConversions]:
    carts, buys = _clicked_searches(("add_to_cart",)), _clicked_searches(("purchase",))
    q = (select(SearchRow.query, func.count(SearchRow.id), func.coalesce(func.sum(carts.c.n), 0),
                func.coalesce(func.sum(buys.c.n), 0),
                func.sum(case(((carts.c.qid.is_not(None)) | (buys.c.qid.is_not(None)), 1), else_=0)))
         .outerjoin(carts, carts.c.qid == SearchRow.query_id).outerjoin(buys, buys.c.qid == SearchRow.query_id)
         .where(*_searched(period)).group_by(SearchRow.query))
    with Session(store.engine) as s:
        rows = [QueryConversions(query=a, searches=int(n), add_to_cart=int(c), purchase=int(b), rate=int(k or 0) / int(n))
                for a, n, c, b, k in s.execute(q)]
    rows = [r for r in rows if r.add_to_cart or r.purchase]
    return sorted(rows, key=lambda r: (-(r.add_to_cart + r.purchase), r.query))[:limit]


def arm_figures(store: EventStore, experiment: str, period: Period | None = None) -> list[ArmFigures]:
    """Per arm of an A/B test: searches, sessions, clicks, and the share of searches that
    got a click and that converted, each with its Wilson interval."""
    period = period or Period()
    clicks, convs = _clicked_searches(("click",)), _clicked_searches(CONVERSIONS)
    q = (select(SearchRow.arm, func.count(SearchRow.id), func.count(distinct(SearchRow.session_id)),
                func.count(clicks.c.qid), func.coalesce(func.sum(clicks.c.n), 0), func.count(convs.c.qid))
         .outerjoin(clicks, clicks.c.qid == SearchRow.query_id).outerjoin(convs, convs.c.qid == SearchRow.query_id)
         .where(and_(SearchRow.experiment == experiment, *period.where(SearchRow.ts))).group_by(SearchRow.arm))
    with Session(store.engine) as s:
        return [ArmFigures(arm=arm or "", searches=int(n), sessions=int(ss), clicks=int(k),
                           ctr=wilson(int(cl), int(n)), conversion=wilson(int(cv), int(n)))
                for arm, n, ss, cl, k, cv in s.execute(q)]


def summary(store: EventStore, period: Period, limit: int = 20, min_searches: int = 2, max_ctr: float = 0.1) -> dict:
    """Everything the dashboard shows, in one answer (GET /admin/analytics)."""
    with Session(store.engine) as s:
        searches = int(s.scalar(select(func.count()).select_from(SearchRow).where(*period.where(SearchRow.ts))) or 0)
        lat = list(s.scalars(select(SearchRow.latency_ms).where(*period.where(SearchRow.ts))
                             .order_by(SearchRow.latency_ms)))
        modality = {m: int(n) for m, n in s.execute(select(SearchRow.modality, func.count())
                                                    .where(*period.where(SearchRow.ts)).group_by(SearchRow.modality))}
    pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else None  # noqa: E731
    return {
        "period": period.model_dump(),
        "searches": searches,
        "modalities": modality,
        "latency_ms": {"p50": pct(0.5), "p95": pct(0.95)},
        "top_queries": [r.model_dump() for r in top_queries(store, period, limit)],
        "zero_result_queries": [r.model_dump() for r in zero_result_queries(store, period, limit)],
        "low_ctr_queries": [r.model_dump() for r in low_ctr_queries(store, period, min_searches, max_ctr, limit)],
        "click_positions": click_positions(store, period),
        "conversions_per_query": [r.model_dump() for r in conversions_per_query(store, period, limit)],
    }
