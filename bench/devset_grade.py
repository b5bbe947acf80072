"""Grading for generated fashion queries, the shared README's rule made code, kept
apart from the generator so tests and heldout.py can use it without the word lists.

An intent is (articleType, colour family or None, gender or None). Grade 2: the
product has that articleType, a baseColour in the colour family and a gender the
query's gender covers; grade 1: same articleType otherwise; every other product
is grade 0 (not written). Gender coverage, as the shared qrels do it: "men" and
"women" include Unisex products, "kids" is Boys + Girls (not Unisex), "boys" and
"girls" are Boys and Girls alone. Colour families are the project's
COLOUR_FAMILIES (imported for grading only; the word lists never read it)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shopsearch.query.tables import COLOUR_FAMILIES

GENDERS: dict[str, frozenset[str]] = {
    "men": frozenset({"Men", "Unisex"}),
    "women": frozenset({"Women", "Unisex"}),
    "kids": frozenset({"Boys", "Girls"}),
    "boys": frozenset({"Boys"}),
    "girls": frozenset({"Girls"}),
}


@dataclass(frozen=True)
class Intent:
    """What a query asks for; None means the query does not name that attribute."""

    type: str
    colour: str | None = None
    gender: str | None = None


@lru_cache(maxsize=4)
def load_catalogue(path: str) -> tuple[dict[str, str], ...]:
    """catalogue_hr rows, cached: the generator, tests and heldout share one read."""
    with Path(path).open(encoding="utf-8", newline="") as f:
        return tuple(csv.DictReader(f))


def matches(row: dict[str, str], intent: Intent) -> int:
    """Grade of one product for one intent (0, 1 or 2)."""
    if row["articleType"] != intent.type:
        return 0
    if intent.colour is not None and row["baseColour"] not in COLOUR_FAMILIES[intent.colour]:
        return 1
    if intent.gender is not None and row["gender"] not in GENDERS[intent.gender]:
        return 1
    return 2


def grade(rows: tuple[dict[str, str], ...] | list[dict[str, str]], intent: Intent,
          where=None) -> dict[str, int]:
    """Product id -> grade (1 or 2) over `rows` (optionally filtered, e.g. unseen split)."""
    out = {}
    for r in rows:
        if where is not None and not where(r):
            continue
        g = matches(r, intent)
        if g:
            out[r["id"]] = g
    return out


def _key(s: str) -> str:
    """Type name key: lowercase letters only, a plural s/es dropped ("T-shirts" == "tshirt")."""
    k = re.sub(r"[^a-z]", "", s.lower())
    if k.endswith(("ches", "shes", "sses")):
        return k[:-2]
    return k[:-1] if k.endswith("s") and not k.endswith("ss") and len(k) > 3 else k


def type_keys(rows) -> dict[str, str]:
    """Key of every catalogue articleType (and of each side of "X and Y") -> articleType.
    A deliberately tiny parser over catalogue values, used only to re-derive the
    shared dev qrels from their text and prove `grade` right."""
    out: dict[str, str] = {}
    for t in sorted({r["articleType"] for r in rows}):
        out.setdefault(_key(t), t)
        for part in re.split(r"\band\b", t):
            if part.strip():
                out.setdefault(_key(part), t)
    return out


def parse_plain(text: str, keys: dict[str, str]) -> Intent | None:
    """'women navy sandals' -> Intent('Sandals', 'navy', 'women'): gender word, colour
    family name, and the longest run of words whose key is a catalogue type."""
    words = text.lower().split()
    gender = colour = None
    rest = []
    for w in words:
        if w in GENDERS and gender is None:
            gender = w
        elif w in COLOUR_FAMILIES and colour is None:
            colour = w
        else:
            rest.append(w)
    for n in range(len(rest), 0, -1):
        for i in range(len(rest) - n + 1):
            k = _key("".join(rest[i:i + n]))
            if k in keys:
                return Intent(keys[k], colour, gender)
    return None
