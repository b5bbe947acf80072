"""Synonyms the operator manages: multi-way groups ("sneakers", "trainers", "kicks": each
finds the others) and one-way ones ("hoodie" also finds "sweatshirt", not the reverse),
English or Chinese.

Applied to all three places a query's words go: the parser (a word it does not know
is read as a group member it knows), and the lexical and dense retrievers (the other
members are added to what they see). Stored in the index's metadata, so every
serving process sees a change at its next view. Shown in the why panel."""

from __future__ import annotations

import re
from typing import Callable

from pydantic import BaseModel, Field, model_validator

from shopsearch.index.base import MetaList

_CJK = re.compile(r"[\u3400-\u9fff]")


class SynonymSet(BaseModel):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    synonyms: list[str] = Field(min_length=1, max_length=50)
    input: str | None = Field(default=None, max_length=100, description="one-way: only this word finds the synonyms")

    @model_validator(mode="after")
    def _clean(self) -> "SynonymSet":
        self.synonyms = [w.strip().lower() for w in self.synonyms if w.strip()]
        if self.input is not None:
            self.input = self.input.strip().lower()
            if not self.input:
                raise ValueError("a one-way synonym needs a non-empty input")
        if not self.synonyms:
            raise ValueError("a synonym set needs at least one non-empty word")
        if self.input is None and len(self.synonyms) < 2:
            raise ValueError("a multi-way synonym set needs at least two words (or give an input for one-way)")
        return self


def _occurs(word: str, text: str) -> bool:
    if _CJK.search(word):
        return word in text
    return re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", text) is not None


class Synonyms:
    """An index's synonym sets, ready to rewrite queries."""

    def __init__(self, sets: list[SynonymSet]) -> None:
        self.sets = sets

    @classmethod
    def from_meta(cls, raw: list[dict] | None) -> "Synonyms":
        return cls([SynonymSet.model_validate(d) for d in (raw or [])])

    def __bool__(self) -> bool:
        return bool(self.sets)

    def rewrite(self, text: str, known: Callable[[str], bool]) -> tuple[str, list[str], list[dict]]:
        """(text for the parser, words the retrievers also see, why-panel entries). A
        member the parser does not know becomes a member it does (`known`)."""
        low = text.lower()
        parse_text, extra, why = low, [], []
        for s in self.sets:
            present = [s.input] if s.input is not None else s.synonyms
            hits = [w for w in present if _occurs(w, low)]
            if not hits:
                continue
            others = [w for w in s.synonyms if w not in hits]
            extra += [w for w in others if not _occurs(w, low)]
            for w in hits:
                if not known(w):
                    target = next((o for o in others if known(o)), None)
                    if target is not None:
                        parse_text = parse_text.replace(w, target) if _CJK.search(w) else re.sub(
                            rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", target, parse_text)
                why.append({"word": w, "kind": "synonym", "values": others, "confidence": 1.0,
                            "source": "operator synonym", "via": f"synonym set {s.id!r}"
                            + (" (one-way)" if s.input is not None else ""), "gate": "attribute"})
        return parse_text, list(dict.fromkeys(extra)), why


# -- the operator's store: the index's metadata ("synonyms"), shared by the API and the CLI --
def list_synonyms(index) -> list[SynonymSet]:
    return MetaList(index, "synonyms", SynonymSet).all()


def save_synonyms(index, s: SynonymSet) -> bool:
    """Create or replace a synonym set by id; True if it replaced one."""
    return MetaList(index, "synonyms", SynonymSet).save(s)


def delete_synonyms(index, set_id: str) -> bool:
    return MetaList(index, "synonyms", SynonymSet).delete(set_id)
