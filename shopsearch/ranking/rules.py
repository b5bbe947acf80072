"""Merchandising rules: pin, hide or bury products, or boost and bury by attribute, for
the queries a rule matches, after fusion, for every kind of query (text, photo, voice,
video: what they have in common is the text and the parsed intent they end up as).

A rule matches an exact query, a query containing some words, a parsed intent
("type = Dresses"), a filter the shopper set, a photo query's predicted type, or
always; it can have a start and an end. Rules live in the index's metadata, so every
serving process applies a change at its next view (within a second). Matching is by
lookup tables, not a loop over every rule, so 1,000 rules cost well under a
millisecond (bench/rules.py)."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, model_validator

from shopsearch.index.base import MetaList
from shopsearch.query.vocab import key_of

ATTRIBUTE_FIELDS = ("type", "colour", "gender", "brand", "usage")


class RuleMatch(BaseModel):
    """When a rule applies: any one condition given must hold (all, if several)."""

    query: str | None = Field(default=None, max_length=500, description="the whole query, case and spacing aside")
    contains: str | None = Field(default=None, max_length=500, description="these words, in any order")
    intent: dict[str, str] | None = Field(default=None, description='a parsed attribute, e.g. {"type": "Dresses"}')
    filter: dict[str, str] | None = Field(default=None, description='a filter the shopper set, e.g. {"brand": "Nike"}')
    photo_type: str | None = Field(default=None, description="a photo query whose photo shows this type")
    always: bool = False

    @model_validator(mode="after")
    def _one(self) -> "RuleMatch":
        if not (self.query or self.contains or self.intent or self.filter or self.photo_type or self.always):
            raise ValueError("a rule must match something: query, contains, intent, filter, photo_type or always")
        for d in (self.intent or {}, self.filter or {}):
            for k in d:
                if k not in ATTRIBUTE_FIELDS:
                    raise ValueError(f"unknown field {k!r} in a rule's match (one of {', '.join(ATTRIBUTE_FIELDS)})")
        return self


class Pin(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    position: int = Field(ge=1, le=1000)


class AttributeBoost(BaseModel):
    field: str
    value: str
    weight: float = Field(ge=-10, le=10, description="added to the score of products with it (negative buries)")


class Rule(BaseModel):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    match: RuleMatch
    pin: list[Pin] = Field(default_factory=list)
    hide: list[str] = Field(default_factory=list)
    bury: list[str] = Field(default_factory=list)
    boost: list[AttributeBoost] = Field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    note: str = ""

    @model_validator(mode="after")
    def _does_something(self) -> "Rule":
        if not (self.pin or self.hide or self.bury or self.boost):
            raise ValueError("a rule must do something: pin, hide, bury or boost")
        if self.start and self.end and self.end <= self.start:
            raise ValueError("a rule's end must come after its start")
        return self

    def active(self, now: float) -> bool:
        ts = lambda d: d.timestamp() if d.tzinfo else d.replace(tzinfo=timezone.utc).timestamp()  # noqa: E731
        return (self.start is None or ts(self.start) <= now) and (self.end is None or now < ts(self.end))


class Effects(BaseModel):
    """What the matching rules do to one query's results."""

    rules: list[str] = Field(default_factory=list)
    pins: list[tuple[str, int, str]] = Field(default_factory=list)  # (product id, position, rule)
    hide: set[str] = Field(default_factory=set)
    bury: dict[str, str] = Field(default_factory=dict)  # product id -> rule
    boosts: list[tuple[str, str, float, str]] = Field(default_factory=list)  # (field, value, weight, rule)


class RuleBook:
    """All rules of an index, indexed for matching."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.exact: dict[str, list[Rule]] = defaultdict(list)
        self.by_value: dict[tuple[str, str, str], list[Rule]] = defaultdict(list)  # (kind, field, value)
        self.always: list[Rule] = []
        self.contains: dict[str, list[tuple[frozenset[str], Rule]]] = defaultdict(list)  # by its rarest word
        for r in rules:
            m = r.match
            if m.query:
                self.exact[key_of(m.query)].append(r)
            elif m.intent:
                k, v = next(iter(m.intent.items()))
                self.by_value[("intent", k, v.lower())].append(r)
            elif m.filter:
                k, v = next(iter(m.filter.items()))
                self.by_value[("filter", k, v.lower())].append(r)
            elif m.photo_type:
                self.by_value[("photo", "type", m.photo_type.lower())].append(r)
            elif m.contains:
                words = frozenset(key_of(m.contains).split())
                self.contains[min(words, key=len) if words else ""].append((words, r))
            else:
                self.always.append(r)

    @classmethod
    def from_meta(cls, raw: list[dict] | None) -> "RuleBook":
        return cls([Rule.model_validate(d) for d in (raw or [])])

    def __bool__(self) -> bool:
        return bool(self.rules)

    def match(self, text: str | None, intent: Any, filters: Any, photo_types: list[str], now: float | None = None) -> Effects:
        now = time.time() if now is None else now
        key = key_of(text or "")
        words = set(key.split())
        cands: list[Rule] = list(self.exact.get(key, [])) if key else []
        parsed = {"type": getattr(intent, "types", []) or [], "colour": getattr(intent, "colours", []) or [],
                  "gender": getattr(intent, "genders", []) or [], "usage": getattr(intent, "usages", []) or []}
        for name, values in parsed.items():
            for v in values:
                cands += self.by_value.get(("intent", name, v.lower()), [])
        for name in ("type", "colour", "gender", "brand"):
            for v in getattr(filters, name, []) or []:
                cands += self.by_value.get(("filter", name, v.lower()), [])
        for name, values in (getattr(filters, "attrs", {}) or {}).items():
            for v in values:
                cands += self.by_value.get(("filter", name, v.lower()), [])
        for t in photo_types:
            cands += self.by_value.get(("photo", "type", t.lower()), [])
        for w in words:
            cands += [r for need, r in self.contains.get(w, ()) if need <= words]
        cands += self.always
        out = Effects()
        seen: set[str] = set()
        for r in cands:  # each rule once, in the order found
            if r.id in seen:
                continue
            seen.add(r.id)
            if not r.active(now) or not _all_hold(r.match, key, words, parsed, filters, photo_types):
                continue
            out.rules.append(r.id)
            out.pins += [(p.id, p.position, r.id) for p in r.pin]
            out.hide |= set(r.hide)
            out.bury.update({i: r.id for i in r.bury})
            out.boosts += [(b.field, b.value, b.weight, r.id) for b in r.boost]
        return out


def _all_hold(m: RuleMatch, key: str, words: set[str], parsed: dict, filters: Any, photo_types: list[str]) -> bool:
    """A rule with several conditions applies only where every one holds."""
    if m.query and key_of(m.query) != key:
        return False
    if m.contains and not set(key_of(m.contains).split()) <= words:
        return False
    for k, v in (m.intent or {}).items():
        if v.lower() not in {x.lower() for x in parsed.get(k, [])}:
            return False
    for k, v in (m.filter or {}).items():
        got = getattr(filters, k, None) if k in ("type", "colour", "gender", "brand") else (filters.attrs or {}).get(k)
        if v.lower() not in {x.lower() for x in (got or [])}:
            return False
    if m.photo_type and m.photo_type.lower() not in {t.lower() for t in photo_types}:
        return False
    return True


BURY = 100.0  # a buried product goes below every unburied one


def apply_scores(effects: Effects, pos: np.ndarray, lower_column, position) -> dict[str, np.ndarray]:
    """part name -> contribution per candidate: attribute boosts and burials (vectorised:
    a handful of array comparisons, whatever the pool's size)."""
    out: dict[str, np.ndarray] = {}

    def add(rule: str, contrib: np.ndarray) -> None:
        out[f"rule:{rule}"] = out.get(f"rule:{rule}", np.zeros(len(pos))) + contrib

    for field, value, weight, rule in effects.boosts:
        hit = lower_column(field)[pos] == value.lower()
        if hit.any():
            add(rule, weight * hit)
    by_rule: dict[str, list[int]] = defaultdict(list)
    for pid, rule in effects.bury.items():
        p = position(pid)
        if p is not None:
            by_rule[rule].append(p)
    for rule, rows in by_rule.items():
        hit = np.isin(pos, rows)
        if hit.any():
            add(rule, -BURY * hit)
    return out


# -- the operator's store: the index's metadata ("rules"), shared by the API and the CLI --
def list_rules(index) -> list[Rule]:
    return MetaList(index, "rules", Rule).all()


def save_rule(index, rule: Rule) -> bool:
    """Create or replace a rule by id; True if it replaced one."""
    return MetaList(index, "rules", Rule).save(rule)


def delete_rule(index, rule_id: str) -> bool:
    return MetaList(index, "rules", Rule).delete(rule_id)
