"""The engine's public home: `from shopsearch.engine import Engine`. The engine itself is
`shopsearch.search.engine.Engine`, a facade over the search stages in `shopsearch/search/`."""

from shopsearch.search.engine import Engine

__all__ = ["Engine"]
