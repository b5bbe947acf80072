"""A small reader of the WordNet database as Debian's `wordnet-base` installs it
(`/usr/share/wordnet`: index.* and data.* files in the Princeton `wndb` format).

Why our own: nltk's reader wants its own download layout (a `lexnames` file, sense
maps, a path sandbox) that Debian's package does not have, and all we need is
synsets, their lemmas, hyponyms and similar-to links. Nothing is fetched: without
the package, `WordNet.open()` returns None and understanding falls back to the
catalogue and the embedding model alone.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_DIRS = ("/usr/share/wordnet", "/usr/local/share/wordnet", "/usr/share/wordnet-3.0/dict")
# The lexicographer files by number (wndb(5WN), lexnames(5WN)): what kind of thing a synset is.
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location noun.motive "
    "noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process noun.quantity "
    "noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change verb.cognition "
    "verb.communication verb.competition verb.consumption verb.contact verb.creation verb.emotion "
    "verb.motion verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_POS_FILE = {"n": "noun", "a": "adj", "s": "adj", "v": "verb", "r": "adv"}


@dataclass(frozen=True)
class Synset:
    """One WordNet concept: its words, what kind of thing it is, its links."""

    key: str  # "n:03236735"
    pos: str
    lexname: str
    lemmas: tuple[str, ...]  # lower case, spaces for underscores ("running shoe")
    gloss: str
    pointers: tuple[tuple[str, str], ...]  # (symbol, key): "@" hypernym, "~" hyponym, "&" similar to


class WordNet:
    """Lemma -> synsets (most frequent sense first) and synset -> links."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._index: dict[str, dict[str, list[str]]] = {}
        self._data = {}
        self._cache: dict[str, Synset] = {}
        for pos in ("noun", "adj"):
            self._index[pos] = self._read_index(self.folder / f"index.{pos}")
            self._data[pos] = (self.folder / f"data.{pos}").open("rb")

    @classmethod
    def open(cls, folder: str | Path | None = None) -> "WordNet | None":
        """The database at `folder`, $SHOPSEARCH_WORDNET or a usual Debian path; None if absent."""
        return _open(str(folder or os.environ.get("SHOPSEARCH_WORDNET") or ""))

    @staticmethod
    def _read_index(path: Path) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(" "):  # the licence header
                    continue
                p = line.split()
                if len(p) < 6:
                    continue
                n_syn, n_ptr = int(p[2]), int(p[3])
                offsets = p[6 + n_ptr: 6 + n_ptr + n_syn]
                out[p[0].replace("_", " ")] = offsets
        return out

    def words(self) -> set[str]:
        """Every noun and adjective lemma (to tell a real English word from a typo)."""
        return set(self._index["noun"]) | set(self._index["adj"])

    def synsets(self, lemma: str, pos: str = "noun") -> list[Synset]:
        offsets = self._index[pos].get(lemma.lower().replace("_", " "), [])
        return [self.synset(f"{pos[0]}:{o}") for o in offsets]

    def synset(self, key: str) -> Synset:
        s = self._cache.get(key)
        if s is not None:
            return s
        pos, offset = key.split(":")
        f = self._data[_POS_FILE[pos]]
        f.seek(int(offset))
        line = f.readline().decode("utf-8", errors="replace")
        head, _, gloss = line.partition("|")
        p = head.split()
        lexname = LEXNAMES[int(p[1])] if int(p[1]) < len(LEXNAMES) else "?"
        n_words = int(p[3], 16)
        lemmas = tuple(dict.fromkeys(_lemma(p[4 + 2 * i]) for i in range(n_words)))
        i = 4 + 2 * n_words
        n_ptr = int(p[i])
        ptrs = []
        for j in range(n_ptr):
            sym, off, ppos = p[i + 1 + 4 * j: i + 4 + 4 * j]
            ptrs.append((sym, f"{'a' if ppos in 'as' else ppos}:{off}"))
        s = self._cache[key] = Synset(key, pos, lexname, lemmas, gloss.strip(), tuple(ptrs))
        return s

    def related(self, s: Synset, symbol: str) -> list[Synset]:
        return [self.synset(k) for sym, k in s.pointers if sym == symbol]

    def hyponyms(self, s: Synset, depth: int) -> list[tuple[Synset, int]]:
        """Narrower concepts down to `depth` levels, each with its level (1 = direct)."""
        out: list[tuple[Synset, int]] = []
        seen = {s.key}
        frontier = [s]
        for level in range(1, depth + 1):
            nxt = []
            for x in frontier:
                for h in self.related(x, "~") + self.related(x, "~i"):
                    if h.key not in seen:
                        seen.add(h.key)
                        out.append((h, level))
                        nxt.append(h)
            frontier = nxt
        return out


def _lemma(raw: str) -> str:
    """'T-shirt' -> 't-shirt', 'running_shoe' -> 'running shoe', 'beige(a)' -> 'beige'."""
    w = raw.split("(")[0]
    return w.replace("_", " ").lower()


@lru_cache(maxsize=4)
def _open(folder: str) -> WordNet | None:
    for d in ([folder] if folder else []) + list(DEFAULT_DIRS):
        if d and (Path(d) / "data.noun").is_file() and (Path(d) / "index.noun").is_file():
            try:
                wn = WordNet(Path(d))
            except (OSError, ValueError, IndexError) as e:  # a damaged copy: do without
                log.warning("WordNet at %s cannot be read (%s): understanding goes on without it", d, e)
                return None
            log.info("WordNet loaded from %s", d)
            return wn
    log.warning("WordNet not found (Debian package `wordnet`, or SHOPSEARCH_WORDNET): "
                "unknown words are mapped by the catalogue and the embedding model only")
    return None


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Every one-word WordNet noun and adjective (empty without WordNet): a word in it is a
    real word, never a typo to correct into a catalogue word. Read from the index files
    alone, so a serving process does not keep the whole database in memory."""
    folder = next((Path(d) for d in [os.environ.get("SHOPSEARCH_WORDNET") or ""] + list(DEFAULT_DIRS)
                   if d and (Path(d) / "index.noun").is_file()), None)
    if folder is None:
        return frozenset()
    words: set[str] = set()
    for pos in ("noun", "adj"):
        with (folder / f"index.{pos}").open(encoding="utf-8", errors="replace") as f:
            for line in f:
                w = line.split(" ", 1)[0]
                if w.isalpha() and not line.startswith(" "):
                    words.add(w)
    return frozenset(words)
