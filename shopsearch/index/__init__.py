"""Where products and their vectors live.

`base.Index` is the interface the engine talks to; `embedded.EmbeddedIndex` is the
default (SQLite records + in-memory vectors + bm25s, in one folder, no server).
`open_index` picks the backend from the index location.
"""

from shopsearch.index.base import Candidates, Index, open_index

__all__ = ["Candidates", "Index", "open_index"]
