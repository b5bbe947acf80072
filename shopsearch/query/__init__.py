"""Query understanding: catalogue vocabulary, curated tables and the intent parser."""

from shopsearch.query.parser import Intent, parse
from shopsearch.query.vocab import Vocabulary

__all__ = ["Intent", "Vocabulary", "parse"]
