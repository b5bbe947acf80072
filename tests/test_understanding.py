"""Understanding words no table holds (WordNet, the catalogue's titles, the text model),
the confidence gate, photo + words as one intent, and counts that mean something.

Real components throughout: WordNet from Debian's package, the bundled MiniLM text
model, real fashion and ESCI catalogue rows, the test run's real index and tower."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from shopsearch.query import tables as T
from shopsearch.query.concepts import build_concepts
from shopsearch.query.parser import parse
from shopsearch.query.vocab import Vocabulary, key_of, last_segment
from shopsearch.query.wordnet import WordNet, english_words
from shopsearch.schema import Query

from conftest import BENCH, DATA, fashion_rows

# Shopper words that neither the curated tables nor the catalogue's values contain
UNSEEN = {"parka": "Jackets", "anorak": "Jackets", "windbreaker": "Jackets", "sundress": "Dresses",
          "knapsack": "Backpacks", "choker": "Necklace and Chains", "espadrille": "Sandals", "ticker": "Watches"}


def _in_tables(word: str) -> bool:
    tables = [T.TYPE_SYNONYMS, T.COLOUR_SYNONYMS, T.GENDER_WORDS, T.USAGE_SYNONYMS, T.ZH_TO_EN]
    return any(word in t or word + "s" in t for t in tables) or word in T.COLOUR_FAMILIES


@pytest.fixture(scope="module")
def engine(tmp_path_factory, small_index, tiny_model):
    """This module's own engine over a copy of the test index (rules and reads of its own)."""
    import shutil

    from shopsearch.engine import Engine
    from shopsearch.settings import Settings

    idx = tmp_path_factory.mktemp("understanding") / "idx"
    shutil.copytree(small_index, idx)
    return Engine(idx, settings=Settings(image_model=tiny_model))


@pytest.fixture(scope="module")
def wordnet():
    wn = WordNet.open()
    if wn is None:
        pytest.fail("WordNet is not installed: apt-get install wordnet (make system-deps does it)")
    return wn


@pytest.fixture(scope="module")
def encode():
    from shopsearch.encoders.text import MiniLMText
    from shopsearch.settings import Settings

    return MiniLMText(Settings()).encode


def _vocab(rows: list[dict], type_key: str, colour_key: str, title_key: str, encode, wn) -> Vocabulary:
    types = [last_segment(r.get(type_key) or "") for r in rows]
    titles = [r.get(title_key) or "" for r in rows]
    v = Vocabulary.build(types, [r.get(colour_key) or "" for r in rows], [r.get("gender") or "" for r in rows],
                         [r.get("usage") or "" for r in rows], titles)
    return v.with_concepts(build_concepts(v, titles, types, encode, wn))


@pytest.fixture(scope="module")
def fashion_vocab(encode, wordnet):
    rows = fashion_rows(3000)
    return _vocab(rows, "articleType", "baseColour", "productDisplayName", encode, wordnet)


def test_words_absent_from_every_table_map_to_the_catalogue(fashion_vocab):
    for word, want in UNSEEN.items():
        assert not _in_tables(word) and key_of(word) not in {key_of(t) for t in fashion_vocab.types}, word
        it = parse(f"black {word} for men", fashion_vocab)
        assert want in it.types + list(it.weak.get("type", {})), (word, it.types, it.weak)
        m = next(m for m in it.mappings if m["word"] == word)
        assert m["source"] == "wordnet" and m["via"] and 0 < m["confidence"] <= 1, m
    # a colour and a person word WordNet knows and the tables do not
    it = parse("ecru blouse for a lass", fashion_vocab)
    assert "Beige" in it.colours or "Cream" in it.colours, it.colours
    assert not _in_tables("ecru") and not _in_tables("lass")
    assert {"Girls"} & set(it.genders), it.genders


def test_titles_speak_for_their_type(fashion_vocab):
    # "chronograph" appears in no table; the catalogue's titles use it for watches only
    assert not _in_tables("chronograph")
    it = parse("chronograph", fashion_vocab)
    m = next(m for m in it.mappings if m["word"] == "chronograph")
    assert m["source"] == "titles" and it.types == ["Watches"], it.mappings


def test_real_words_are_not_typo_corrected(fashion_vocab):
    assert "parka" in english_words() and "sheos" not in english_words()
    it = parse("parka", fashion_vocab)
    assert it.corrections == {}
    assert parse("sheos", fashion_vocab).corrections == {"sheos": "shoes"}


def test_same_machinery_on_another_catalogue(encode, wordnet):
    """ESCI's Amazon categories: no table knows them, yet WordNet reaches them."""
    with (BENCH / "esci" / "products.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["category"]]
    v = _vocab(rows, "category", "color", "title", encode, wordnet)
    for query, want in (("futon", "Mattresses"), ("comforter", "Quilts"), ("loveseat", "Sofas & Couches")):
        assert not _in_tables(query)
        it = parse(query, v)
        assert want in it.types + list(it.weak.get("type", {})), (query, it.types, it.weak, it.mappings)


def test_weak_mapping_boosts_but_never_filters(engine):
    # "plimsolls" reaches footwear only through the head noun "shoe": below the gate
    res = engine.search(Query(text="plimsolls", strict=True, page_size=200))
    intent = res.intent
    assert intent["types"] == [] and intent["weak"].get("type"), intent
    conf = max(intent["weak"]["type"].values())
    assert conf < engine.settings.concept_strong
    assert res.hits[0].type in intent["weak"]["type"]  # it still boosts
    assert any(h.type not in intent["weak"]["type"] for h in res.hits)  # and filters nothing
    # a sure mapping in strict mode does filter
    sure = engine.search(Query(text="knapsack", strict=True, page_size=200))
    assert sure.intent["types"] == ["Backpacks"] and {h.type for h in sure.hits} == {"Backpacks"}


def test_why_panel_says_which_word_mapped_to_what(engine):
    res = engine.search(Query(text="ticker for men", page_size=5))
    maps = {m["word"]: m for m in res.intent["mappings"]}
    assert maps["ticker"]["values"] == ["Watches"] and maps["ticker"]["source"] == "wordnet"
    assert "synonym" in maps["ticker"]["via"] and maps["ticker"]["gate"] == "attribute"
    assert res.hits[0].type == "Watches" and res.hits[0].parts["attributes"] > 0


def test_counts_follow_the_named_type(engine):
    res = engine.search(Query(text="black watch", page_size=50))
    assert res.total >= 1 and res.related > 0  # the related rest is still there, after the matches
    assert next(iter(res.facets["type"])) == "Watches" and set(res.facets["type"]) == {"Watches"}
    assert sum(res.facets["colour"].values()) == res.total
    assert all(h.type == "Watches" for h in res.hits[:res.total])
    tail = engine.search(Query(text="black watch", page_size=50, page=(res.total // 50) + 2))
    assert tail.hits  # the long tail is reachable by paging


def test_photo_and_words_one_intent(engine, data_dir):
    """A photo of a shirt + "in red": shirts first, red ones, the photo's look deciding among them."""
    rows = {r["id"]: r for r in fashion_rows(200)}
    shirt = next(i for i, r in rows.items() if r["articleType"] == "Shirts" and r["baseColour"] not in ("Red",))
    photo = str(data_dir / rows[shirt]["image_hr"])
    alone = engine.search(Query(images=[photo], page_size=5))
    assert alone.hits[0].id == shirt  # the photo alone still finds its own product first
    res = engine.search(Query(text="in red", images=[photo], page_size=10))
    want = Counter((r["articleType"], r["baseColour"]) for r in rows.values())[("Shirts", "Red")]
    assert want >= 2
    top = res.hits[:want]
    assert all(h.type == "Shirts" and h.colour == "Red" for h in top), [(h.type, h.colour) for h in top]
    assert res.intent["photo"] and any(m["source"] == "image tower" for m in res.intent["mappings"])
    assert res.total == want
