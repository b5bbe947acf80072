"""What every search stage reads: the index, the encoder, the settings, the event store,
and what is derived from the index once per write generation (vocabulary, matcher,
tuned weights, score modifiers, which fields are facet-like).

Derived objects are keyed by the index's write generation, never by what an earlier
request happened to do, so two searches of the same view always see the same state."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from shopsearch.encoders.factory import load_encoder
from shopsearch.index.base import Index, IndexMismatch
from shopsearch.query.concepts import EmbeddingMatcher
from shopsearch.query.parser import Intent, parse
from shopsearch.query.synonyms import Synonyms
from shopsearch.query.vocab import Vocabulary, zh_table
from shopsearch.ranking.modifiers import Modifier
from shopsearch.ranking.personal import Profile, build_profile
from shopsearch.ranking.rules import RuleBook
from shopsearch.settings import Settings

log = logging.getLogger(__name__)


class PerGeneration:
    """A value derived from the index, rebuilt when the index's write generation changes."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self.build = build
        self.gen: int | None = None
        self.value: Any = None

    def get(self, gen: int) -> Any:
        if self.gen != gen:
            self.value, self.gen = self.build(), gen
        return self.value


class SearchContext:
    """The heavy objects (loaded once) and the per-generation derived state."""

    def __init__(self, index: Index, settings: Settings, encoder=None, events=None) -> None:
        self.index = index
        self.settings = settings
        self.events = events
        self._encoder = encoder
        self._vocab = PerGeneration(self._load_vocab)
        self._matcher = PerGeneration(self._load_matcher)
        self._tuned = PerGeneration(lambda: self.index.get_meta("fusion_weights") or {})
        self._mods = PerGeneration(self._load_modifiers)
        self._facet_like = PerGeneration(dict)
        self._lower = PerGeneration(dict)
        self._rules = PerGeneration(lambda: RuleBook.from_meta(self.index.get_meta("rules")))
        self._synonyms = PerGeneration(lambda: Synonyms.from_meta(self.index.get_meta("synonyms")))
        self._brands = None

    # -- heavy objects -------------------------------------------------------------
    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = self._load_encoder()
        return self._encoder

    def _load_encoder(self):
        # Queries must be embedded by the model the index was built with: vectors from
        # two models live in different spaces and would rank at random.
        built_with = self.index.get_meta("image_model")
        model = Path(built_with) if built_with and Path(built_with).exists() else None
        encoder = load_encoder(self.settings, image_model=model)
        want = self.index.get_meta("encoder")
        if want not in (None, encoder.id):
            where = (f"the model folder it was built with, {built_with}, is gone" if built_with and model is None
                     else f"the model at {model or self.settings.image_model} has changed since")
            raise IndexMismatch(
                f"index {self.index.location} was built with the encoder {want}, but this process would embed "
                f"queries with {encoder.id} ({where}); the results would be wrong. Point --model or "
                f"SHOPSEARCH_IMAGE_MODEL at the model it was built with, or rebuild the index with this one: "
                f"shopsearch ingest CATALOGUE --images DIR --index {self.index.location} --model MODEL")
        return encoder

    # -- per write generation --------------------------------------------------------
    def generation(self) -> int:
        return self.index.generation()

    @property
    def vocab(self) -> Vocabulary:
        return self._vocab.get(self.generation())

    def _load_vocab(self) -> Vocabulary:
        d = self.index.get_meta("vocab")
        return Vocabulary.from_dict(d) if d else Vocabulary.build([], [], [], [], [])

    @property
    def matcher(self) -> EmbeddingMatcher | None:
        """The text model's fallback for words nothing else maps."""
        return self._matcher.get(self.generation())

    def _load_matcher(self) -> EmbeddingMatcher | None:
        vocab = self.vocab
        if not (self.settings.concept_embedding and vocab.concepts):
            return None
        lex = vocab.lexicon
        families = {k: tuple(e["colour"]) for k, e in lex.entries.items() if "colour" in e and k in lex.value_keys}
        return EmbeddingMatcher(vocab.concepts, self.encoder.encode_text, families)

    def parse(self, text: str) -> Intent:
        """The intent of a query, with the operator's synonyms applied first (query/synonyms.py)."""
        synonyms = self._synonyms.get(self.index.meta_generation())
        if not synonyms:
            return parse(text, self.vocab, self.matcher, self.settings.concept_strong)
        vocab = self.vocab
        lex = vocab.lexicon
        known = lambda w: w in lex.entries or w in zh_table() or vocab.words.get(w, 0) > 0  # noqa: E731
        rewritten, extra, why = synonyms.rewrite(text, known)
        intent = parse(rewritten, vocab, self.matcher, self.settings.concept_strong)
        intent.text, intent.synonyms = text, extra
        intent.mappings = why + intent.mappings
        return intent

    def tuned(self) -> dict[str, dict[str, float]]:
        """Fusion weights learned by `shopsearch tune`, per query type."""
        return self._tuned.get(self.generation())

    def modifiers(self) -> list[Modifier]:
        """Score modifiers: the index's own list, else the settings' default."""
        return self._mods.get(self.generation())

    def _load_modifiers(self) -> list[Modifier]:
        raw = self.index.get_meta("score_modifiers")
        return [Modifier.parse(d) for d in (raw if raw is not None else self.settings.score_modifiers)]

    def rules(self) -> RuleBook:
        """The operator's merchandising rules (ranking/rules.py), as stored now."""
        return self._rules.get(self.index.meta_generation())

    def lower_column(self, name: str) -> np.ndarray:
        """A column in lower case (rules compare values case-blind), once per view."""
        cache = self._lower.get(self.generation())
        if name not in cache:
            cache[name] = np.array([str(v or "").lower() for v in self.index.column(name)], dtype=object)
        return cache[name]

    def facet_like(self, name: str) -> float:
        """1.0 when a field has few distinct values per product (a real facet), else 0.0."""
        cache = self._facet_like.get(self.generation())
        if name not in cache:
            col = [c for c in self.index.column(name) if c]
            distinct = len(set(col))
            ratio = distinct / len(col) if col else 1.0
            small = distinct <= 60 and ratio <= 0.5  # a small shop's short list of types
            cache[name] = 1.0 if col and (ratio <= self.settings.facet_like_ratio or small) else 0.0
        return cache[name]

    def brands(self, text: str | None) -> list[str]:
        """Brands the image tower's brand head knows that the query names ("puma" in "Puma Men Black Shoes")."""
        if not text:
            return []
        if self._brands is None:
            from shopsearch.catalog.brand import BrandMatcher

            self._brands = BrandMatcher(getattr(self.encoder, "brand_words", list)())
        return self._brands.find(text)

    def profile(self, session: str) -> Profile | None:
        """The session's profile from its events (view, click, add to cart, purchase)."""
        evs = []
        for e in self.events.for_session(session):
            ts = getattr(e, "ts", None)
            ts = ts.timestamp() if hasattr(ts, "timestamp") else float(ts or time.time())
            evs.append((ts, getattr(e, "type", ""), getattr(e, "product_id", None)))
        return (build_profile(evs, self.index, self.settings.personal_half_life_s, weights=self.settings.event_weights)
                if evs else None)

    def predicted_p(self, pos: int, name: str, wanted) -> float:
        """Probability, by the image tower's attribute head, that the photo shows a wanted value
        (`wanted`: values, or value -> confidence of the mapping that asked for it)."""
        probs = self.index.predicted(pos).get("p", {}).get(name, {})
        if isinstance(wanted, dict):
            return float(sum(probs.get(w, 0.0) * c for w, c in wanted.items()))
        return float(sum(probs.get(w, 0.0) for w in wanted))

    def predicted_ps(self, pos: np.ndarray, name: str, wanted) -> np.ndarray:
        return np.fromiter((self.predicted_p(int(x), name, wanted) for x in pos), float, len(pos))
