"""Meilisearch's filter syntax: a parser into a small AST, and a compiler onto the
engine's filters.

Grammar (keywords case-blind, values bare words or quoted with ' or "):

    expr    := and ("OR" and)*
    and     := unary ("AND" unary)*
    unary   := "NOT" unary | "(" expr ")" | cond
    cond    := attr ("=" | "!=" | ">" | ">=" | "<" | "<=") value
             | attr value "TO" value
             | attr ["NOT"] "IN" "[" value ("," value)* [","] "]"
             | attr ["NOT"] "EXISTS"
             | attr "IS" ["NOT"] ("NULL" | "EMPTY")

A filter may also be an array: its items are ANDed, and an item that is itself an
array ORs its strings (the form InstantSearch sends).

Compiling: an AND of per-field ORs of equalities plus price bounds is exactly what
`Filters` says, so it goes to the engine as is (the engine's own fast mask). Anything
else (OR across fields, NOT, !=, comparisons on text attributes, TO on extra
attributes) is evaluated here into a boolean mask over `Index.column` arrays and
handed over as `Filters(ids=[...])`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Union

import numpy as np

from shopsearch.schema import FACET_FIELDS, Filters

NUMERIC_FIELDS = ("price",)
KEYWORDS = {"AND", "OR", "NOT", "TO", "IN", "EXISTS", "IS", "NULL", "EMPTY"}
OPERATORS = ("!=", ">=", "<=", "=", ">", "<")
# No product id may contain a slash (schema.Product): this id selects nothing.
NOTHING = "/"


class FilterError(ValueError):
    """A filter that cannot be parsed or applied; the message names the position."""


@dataclass(frozen=True)
class Cond:
    """One condition on one attribute. op: = != > >= < <= TO IN NOT_IN EXISTS NOT_EXISTS NULL NOT_NULL EMPTY NOT_EMPTY."""

    attr: str
    op: str
    values: tuple[str, ...] = ()
    start: int = 0  # where the condition starts in its string (for error messages)


@dataclass(frozen=True)
class And:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Not:
    item: "Node"


Node = Union[Cond, And, Or, Not]


@dataclass
class _Tok:
    kind: str  # "word", "str", "op", "(", ")", "[", "]", ",", "end"
    text: str
    pos: int

    @property
    def keyword(self) -> str | None:
        up = self.text.upper()
        return up if self.kind == "word" and up in KEYWORDS else None


_SPECIAL = set("()[],=!<>'\"")


def _tokens(src: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif c in "()[],":
            out.append(_Tok(c, c, i))
            i += 1
        elif c in "=!<>":
            op = next((o for o in OPERATORS if src.startswith(o, i)), None)
            if op is None:
                raise FilterError(f"`{c}` at {i + 1} is not an operator: use =, !=, >, >=, < or <=")
            out.append(_Tok("op", op, i))
            i += len(op)
        elif c in "'\"":
            j, buf = i + 1, []
            while j < n and src[j] != c:
                if src[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(src[j])
                j += 1
            if j >= n:
                raise FilterError(f"the quote {c} opened at {i + 1} is never closed")
            out.append(_Tok("str", "".join(buf), i))
            i = j + 1
        else:
            j = i
            while j < n and not src[j].isspace() and src[j] not in _SPECIAL:
                j += 1
            out.append(_Tok("word", src[i:j], i))
            i = j
    out.append(_Tok("end", "", n))
    return out


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = _tokens(src)
        self.i = 0

    def peek(self, ahead: int = 0) -> _Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def fail(self, tok: _Tok, want: str) -> FilterError:
        found = "the end of the filter" if tok.kind == "end" else f"`{tok.text}`"
        return FilterError(f"{want}, found {found} at {tok.pos + 1}: `{self.src}`")

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise FilterError("the filter is empty")
        node = self.expr()
        t = self.peek()
        if t.kind != "end":
            raise FilterError(f"unexpected `{t.text}` at {t.pos + 1}: you probably forgot an `AND` or an `OR` "
                              f"(or quotes around a value with spaces): `{self.src}`")
        return node

    def expr(self) -> Node:
        items = [self.conj()]
        while self.peek().keyword == "OR":
            self.take()
            items.append(self.conj())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conj(self) -> Node:
        items = [self.unary()]
        while self.peek().keyword == "AND":
            self.take()
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        t = self.peek()
        if t.keyword == "NOT":
            self.take()
            return Not(self.unary())
        if t.kind == "(":
            self.take()
            node = self.expr()
            if self.peek().kind != ")":
                raise self.fail(self.peek(), f"expected `)` to close the `(` at {t.pos + 1}")
            self.take()
            return node
        return self.cond()

    def value(self, what: str = "expected a value") -> str:
        t = self.peek()
        if t.kind == "str" or (t.kind == "word" and t.keyword is None):
            self.take()
            return t.text
        raise self.fail(t, what + " (quote it if it is a keyword)" if t.keyword else what)

    def cond(self) -> Cond:
        t = self.peek()
        if t.kind not in ("word", "str") or t.keyword:
            raise self.fail(t, "expected an attribute name, `NOT` or `(`")
        self.take()
        attr, start = t.text, t.pos
        if attr.startswith("_geo"):
            raise FilterError(f"geo filters (`{attr}`) are not supported: products have no location: `{self.src}`")
        nxt = self.peek()
        if nxt.kind == "op":
            self.take()
            return Cond(attr, nxt.text, (self.value(f"expected a value after `{nxt.text}`"),), start)
        kw = nxt.keyword
        if kw == "NOT":
            self.take()
            kw2 = self.peek().keyword
            if kw2 == "IN":
                self.take()
                return Cond(attr, "NOT_IN", self.array(), start)
            if kw2 == "EXISTS":
                self.take()
                return Cond(attr, "NOT_EXISTS", (), start)
            raise self.fail(self.peek(), f"expected `IN` or `EXISTS` after `{attr} NOT`")
        if kw == "IN":
            self.take()
            return Cond(attr, "IN", self.array(), start)
        if kw == "EXISTS":
            self.take()
            return Cond(attr, "EXISTS", (), start)
        if kw == "IS":
            self.take()
            neg = self.peek().keyword == "NOT"
            if neg:
                self.take()
            what = self.peek().keyword
            if what not in ("NULL", "EMPTY"):
                raise self.fail(self.peek(), f"expected `NULL` or `EMPTY` after `{attr} IS`")
            self.take()
            return Cond(attr, ("NOT_" if neg else "") + what, (), start)
        if nxt.kind in ("word", "str") and kw is None:  # attr low TO high
            low = self.value()
            if self.peek().keyword != "TO":
                raise self.fail(self.peek(), f"expected `TO` in the range `{attr} {low} TO ...`")
            self.take()
            return Cond(attr, "TO", (low, self.value("expected the upper bound after `TO`")), start)
        raise self.fail(nxt, f"expected an operator after `{attr}` (=, !=, >, >=, <, <=, TO, IN, EXISTS, IS)")

    def array(self) -> tuple[str, ...]:
        if self.peek().kind != "[":
            raise self.fail(self.peek(), "expected `[` after `IN`")
        open_ = self.take()
        vals: list[str] = []
        while self.peek().kind != "]":
            vals.append(self.value("expected a value in the list"))
            if self.peek().kind == ",":
                self.take()
            elif self.peek().kind != "]":
                raise self.fail(self.peek(), f"expected `,` or `]` in the list opened at {open_.pos + 1}")
        self.take()
        return tuple(vals)


def parse(src: str) -> Node:
    """One filter string into its AST; FilterError says what is wrong and where (1-based)."""
    if len(src) > 10_000:
        raise FilterError("the filter is longer than 10,000 characters")
    return _Parser(src).parse()


def parse_filter(value: Any) -> Node | None:
    """A Meilisearch `filter` parameter: a string, or an array of strings and arrays
    of strings (outer AND, inner OR); None or an empty array is no filter."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse(value) if value.strip() else None
    if not isinstance(value, list):
        raise FilterError("a filter is a string or an array of strings and arrays of strings")
    ands: list[Node] = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            if item.strip():
                ands.append(_at(item, f"[{i}]"))
        elif isinstance(item, list):
            ors = []
            for j, sub in enumerate(item):
                if not isinstance(sub, str):
                    raise FilterError(f"filter[{i}][{j}] is not a string: arrays nest one level, of strings")
                if sub.strip():
                    ors.append(_at(sub, f"[{i}][{j}]"))
            if ors:
                ands.append(ors[0] if len(ors) == 1 else Or(tuple(ors)))
        else:
            raise FilterError(f"filter[{i}] is neither a string nor an array of strings")
    if not ands:
        return None
    return ands[0] if len(ands) == 1 else And(tuple(ands))


def _at(src: str, where: str) -> Node:
    try:
        return parse(src)
    except FilterError as e:
        raise FilterError(f"filter{where}: {e}") from None


def attributes(node: Node) -> set[str]:
    """Every attribute a filter names."""
    if isinstance(node, Cond):
        return {node.attr}
    if isinstance(node, Not):
        return attributes(node.item)
    return set().union(*(attributes(x) for x in node.items))


# -- compiling -------------------------------------------------------------------

def _number(attr: str, v: str) -> float:
    try:
        x = float(v)
    except ValueError:
        raise FilterError(f"`{attr}` is compared as a number, and `{v}` is not one") from None
    if math.isnan(x):
        raise FilterError(f"`{attr}` cannot be compared with NaN")
    return x


def _fast(node: Node) -> Filters | None:
    """The filter as `Filters` when it says exactly what they can (an AND of per-field
    ORs of equalities, and price bounds); else None."""
    terms = node.items if isinstance(node, And) else (node,)
    f = Filters()
    seen: set[str] = set()
    lo, hi = -math.inf, math.inf
    for t in terms:
        conds = t.items if isinstance(t, Or) else (t,)
        if not all(isinstance(c, Cond) for c in conds):
            return None
        names = {c.attr for c in conds}  # type: ignore[union-attr]
        if len(names) != 1:
            return None
        name = names.pop()
        if name in NUMERIC_FIELDS:
            if len(conds) != 1:
                return None
            c = conds[0]
            if c.op in (">=", ">", "TO"):
                x = _number(name, c.values[0])
                lo = max(lo, x if c.op != ">" else math.nextafter(x, math.inf))
            if c.op in ("<=", "<", "TO"):
                x = _number(name, c.values[-1])
                hi = min(hi, x if c.op != "<" else math.nextafter(x, -math.inf))
            if c.op == "=":
                x = _number(name, c.values[0])
                lo, hi = max(lo, x), min(hi, x)
            elif c.op not in (">=", ">", "<=", "<", "TO"):
                return None
            continue
        if name in seen or not all(c.op in ("=", "IN") for c in conds):  # type: ignore[union-attr]
            return None
        seen.add(name)
        values = [v for c in conds for v in c.values]  # type: ignore[union-attr]
        if not values:  # IN []: nothing
            return None
        if name == "id":
            f.ids = values
        elif name in FACET_FIELDS:
            setattr(f, name, values)
        else:
            f.attrs[name] = values
    if lo > hi:
        return None
    f.price_min = lo if lo != -math.inf else None
    f.price_max = hi if hi != math.inf else None
    return f


class Columns:
    """Per-field arrays for evaluating filters, cached for one index generation:
    lower-cased strings, and numbers (NaN where a value is not one)."""

    def __init__(self, column: Callable[[str], np.ndarray], ids: Callable[[], list[str]]) -> None:
        self._column = column
        self._ids = ids
        self._lower: dict[str, np.ndarray] = {}
        self._num: dict[str, np.ndarray] = {}

    def n(self) -> int:
        return len(self._ids())

    def lower(self, name: str) -> np.ndarray:
        if name not in self._lower:
            if name == "id":
                self._lower[name] = np.array(self._ids(), dtype=object)
            elif name in NUMERIC_FIELDS:
                self._lower[name] = np.array([_num_str(x) for x in self.numeric(name)], dtype=object)
            else:
                self._lower[name] = np.array([str(v or "").lower() for v in self._column(name)], dtype=object)
        return self._lower[name]

    def numeric(self, name: str) -> np.ndarray:
        if name not in self._num:
            col = self._column(name)
            if col.dtype.kind == "f":
                self._num[name] = col.astype(np.float64)
            else:
                self._num[name] = np.array([_to_float(v) for v in col], np.float64)
        return self._num[name]


def _to_float(v: Any) -> float:
    try:
        return float(v) if v not in (None, "") else math.nan
    except (TypeError, ValueError):
        return math.nan


def _num_str(x: float) -> str:
    """A price as Meilisearch prints a number (19.99, 20), '' when unknown."""
    if math.isnan(x):
        return ""
    return str(int(x)) if x == int(x) else repr(float(x))


def evaluate(node: Node, cols: Columns) -> np.ndarray:
    """The filter as a boolean mask over index positions."""
    if isinstance(node, And):
        m = evaluate(node.items[0], cols)
        for x in node.items[1:]:
            m = m & evaluate(x, cols)
        return m
    if isinstance(node, Or):
        m = evaluate(node.items[0], cols)
        for x in node.items[1:]:
            m = m | evaluate(x, cols)
        return m
    if isinstance(node, Not):
        return ~evaluate(node.item, cols)
    return _cond(node, cols)


def _cond(c: Cond, cols: Columns) -> np.ndarray:
    numeric = c.attr in NUMERIC_FIELDS
    if c.op in ("EXISTS", "NOT_NULL", "NOT_EMPTY", "NOT_EXISTS", "NULL", "EMPTY"):
        present = (~np.isnan(cols.numeric(c.attr))) if numeric else (cols.lower(c.attr) != "")
        return present if c.op in ("EXISTS", "NOT_NULL", "NOT_EMPTY") else ~present
    if c.op in (">", ">=", "<", "<=", "TO"):
        x = cols.numeric(c.attr)
        with np.errstate(invalid="ignore"):
            if c.op == "TO":
                return (x >= _number(c.attr, c.values[0])) & (x <= _number(c.attr, c.values[1]))
            v = _number(c.attr, c.values[0])
            return {">": x > v, ">=": x >= v, "<": x < v, "<=": x <= v}[c.op]
    if numeric:
        x = cols.numeric(c.attr)
        vals = [_number(c.attr, v) for v in c.values]
        m = np.zeros(len(x), bool)
        for v in vals:
            m |= x == v
    else:
        col = cols.lower(c.attr)
        m = np.zeros(len(col), bool)
        for v in {v if c.attr == "id" else v.lower() for v in c.values}:
            m |= col == v
    return ~m if c.op in ("!=", "NOT_IN") else m


class IdList(list):
    """The ids a mask selected, for `Filters.ids`. Nothing mutates it, so a deep copy
    (the engine copies a query's filters on every search) is the list itself: copying
    thousands of ids one by one cost more than finding them."""

    def __deepcopy__(self, memo: dict) -> "IdList":
        return self


def id_filters(mask: np.ndarray, ids: list[str]) -> Filters:
    """`Filters` that select exactly the positions set in `mask` (NOTHING if none)."""
    picked = IdList([ids[i] for i in np.flatnonzero(mask)] or [NOTHING])
    return Filters.model_construct(ids=picked)  # validated already: every id is the index's own


@dataclass
class Compiled:
    """A filter ready for the engine; `mask` is set when it went the slow way."""

    filters: Filters
    mask: np.ndarray | None = None
    fast: bool = True
    attrs: set[str] = field(default_factory=set)


def compile_filter(node: Node | None, cols: Columns, ids: Callable[[], list[str]],
                   filterable: set[str]) -> Compiled:
    """`node` for the engine: `Filters` directly when it can, else an id list from a mask."""
    if node is None:
        return Compiled(Filters())
    names = attributes(node)
    unknown = sorted(names - filterable)
    if unknown:
        raise FilterError(f"attribute `{unknown[0]}` is not filterable; the filterable attributes are "
                          f"{', '.join(f'`{a}`' for a in sorted(filterable))}")
    fast = _fast(node)
    if fast is not None:
        return Compiled(fast, attrs=names)
    mask = evaluate(node, cols)
    return Compiled(id_filters(mask, ids()), mask=mask, fast=False, attrs=names)
