"""Query understanding: catalogue vocabulary, curated tables, the concept map of words the
catalogue never uses (WordNet, titles, the text model) and the intent parser.

Names are resolved on first use, so importing one module here (the tables, which the
tokenizer's dictionary comes from) does not import the parser."""

from typing import Any

__all__ = ["Intent", "Vocabulary", "parse"]


def __getattr__(name: str) -> Any:
    if name in ("Intent", "parse"):
        from shopsearch.query import parser

        return getattr(parser, name)
    if name == "Vocabulary":
        from shopsearch.query.vocab import Vocabulary

        return Vocabulary
    raise AttributeError(name)
