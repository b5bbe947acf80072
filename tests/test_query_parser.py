"""Query understanding on the real fashion catalogue: colour families, gender, types,
prices, negation, typos, autocomplete, and agreement with the dev qrels."""

from __future__ import annotations

import csv
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import pytest

from shopsearch.query import Intent, Vocabulary, parse
from shopsearch.query import tables as T
from shopsearch.query.vocab import key_of, osa

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SHOPSEARCH_DATA", ROOT.parent / "shared/data/fashion"))
BENCH = Path(os.environ.get("SHOPSEARCH_BENCH", ROOT.parent / "shared/bench"))

BLUE = {"Blue", "Navy Blue", "Teal", "Turquoise Blue"}
MEN = {"Men", "Unisex"}
WOMEN = {"Women", "Unisex"}
FOOTWEAR = {"Casual Shoes", "Sports Shoes", "Formal Shoes", "Heels", "Flats", "Sandals", "Flip Flops"}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    path = DATA / "catalogue_hr.csv"
    if not path.exists():
        pytest.fail(f"fashion data not found at {path}: set SHOPSEARCH_DATA")
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def vocab(rows) -> Vocabulary:
    return Vocabulary.build(
        types=[r["articleType"] for r in rows], colours=[r["baseColour"] for r in rows],
        genders=[r["gender"] for r in rows], usages=[r["usage"] for r in rows],
        texts=[r["productDisplayName"] for r in rows],
    )


def p(text: str, vocab: Vocabulary) -> Intent:
    return parse(text, vocab)


# --- colours ------------------------------------------------------------------------------
@pytest.mark.parametrize("word, expected", [
    ("blue", BLUE), ("navy", {"Navy Blue"}), ("brown", {"Brown", "Coffee Brown", "Tan", "Mushroom Brown"}),
    ("beige", {"Beige", "Cream", "Khaki", "Nude", "Skin"}), ("yellow", {"Yellow", "Mustard"}),
    ("maroon", {"Maroon", "Burgundy"}), ("grey", {"Grey", "Charcoal", "Steel", "Grey Melange"}),
    ("orange", {"Orange", "Rust"}), ("pink", {"Pink", "Magenta", "Rose"}), ("white", {"White", "Off White"}),
    ("green", {"Green", "Olive", "Lime Green", "Sea Green", "Fluorescent Green"}),
    ("purple", {"Purple", "Magenta", "Lavender", "Mauve"}), ("silver", {"Silver", "Steel", "Metallic"}),
    ("gold", {"Gold", "Copper", "Bronze"}), ("red", {"Red"}), ("black", {"Black"}),
    ("gray", {"Grey", "Charcoal", "Steel", "Grey Melange"}), ("crimson", {"Red"}), ("scarlet", {"Red"}),
])
def test_colour_families(vocab, word, expected):
    it = p(f"{word} shirt", vocab)
    assert set(it.colours) == expected
    assert it.colour_words == [word]
    assert it.types == ["Shirts"]


def test_every_catalogue_colour_is_a_word(vocab, rows):
    colours = {r["baseColour"] for r in rows} - {"NA"}
    assert len(colours) >= 40
    for c in colours:
        it = p(f"{c.lower()} kurta", vocab)
        assert c in it.colours, c
        if " " in c:  # multi-word values win over their parts: "navy blue" is not all blues
            assert it.colours == [c], (c, it.colours)


def test_multiword_colour_longest_first(vocab):
    assert p("navy blue jeans", vocab).colours == ["Navy Blue"]
    assert p("off white top", vocab).colours == ["Off White"]
    assert p("off-white top", vocab).colours == ["Off White"]
    assert p("grey melange tshirt", vocab).colours == ["Grey Melange"]


# --- gender ------------------------------------------------------------------------------
@pytest.mark.parametrize("word, expected", [
    ("men", MEN), ("mens", MEN), ("men's", MEN), ("male", MEN), ("man", MEN), ("gents", MEN),
    ("women", WOMEN), ("womens", WOMEN), ("women's", WOMEN), ("ladies", WOMEN), ("female", WOMEN),
    ("kids", {"Boys", "Girls"}), ("children", {"Boys", "Girls"}), ("boys", {"Boys"}), ("girls", {"Girls"}),
    ("unisex", {"Unisex"}),
])
def test_gender_words(vocab, word, expected):
    it = p(f"{word} watch", vocab)
    assert set(it.genders) == expected
    assert it.types == ["Watches"]


def test_men_does_not_match_inside_women(vocab):
    assert set(p("women shirt", vocab).genders) == WOMEN


# --- types -------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("watch", {"Watches"}), ("watches", {"Watches"}), ("sweater", {"Sweaters"}), ("kurta", {"Kurtas"}),
    ("dress", {"Dresses"}), ("clutch", {"Clutches"}), ("shoe", None), ("jeans", {"Jeans"}),
    ("tee", {"Tshirts"}), ("t-shirt", {"Tshirts"}), ("t shirt", {"Tshirts"}), ("tshirt", {"Tshirts"}),
    ("shades", {"Sunglasses"}), ("hoodie", {"Sweatshirts"}), ("rucksack", {"Backpacks", "Rucksacks"}),
    ("purse", {"Handbags", "Clutches", "Wallets"}), ("sneakers", {"Sports Shoes", "Casual Shoes"}),
    ("hand bag", {"Handbags"}), ("handbag", {"Handbags"}), ("body mist", {"Perfume and Body Mist"}),
    ("perfume", {"Perfume and Body Mist"}), ("necklace", {"Necklace and Chains"}),
])
def test_types_and_synonyms(vocab, text, expected):
    it = p(text, vocab)
    if expected is None:
        assert FOOTWEAR <= set(it.types)
    else:
        assert set(it.types) == expected, it.types


@pytest.mark.parametrize("text, expected", [
    ("casual shoes", ["Casual Shoes"]), ("sports shoes", ["Sports Shoes"]), ("flip flops", ["Flip Flops"]),
    ("flip-flops", ["Flip Flops"]), ("track pants", ["Track Pants"]), ("formal shoes", ["Formal Shoes"]),
])
def test_multiword_types_beat_usage_words(vocab, text, expected):
    it = p(text, vocab)
    assert it.types == expected
    assert it.usages == []


def test_rendering_uses_catalogue_words(vocab):
    assert p("t-shirt", vocab).normalized == "tshirts"
    assert p("hoodie", vocab).normalized == "sweatshirts"
    assert p("shades", vocab).normalized == "sunglasses"
    assert p("gray jacket", vocab).normalized == "grey jacket"
    assert p("ladies watch", vocab).normalized == "women watch"
    assert p("blue denim jacket", vocab).types == ["Jackets"]  # denim is a material, not jeans


def test_bag_is_broad_but_hand_bag_is_not(vocab):
    assert {"Handbags", "Backpacks", "Laptop Bag", "Clutches"} <= set(p("bag", vocab).types)
    assert p("men hand bag", vocab).types == ["Handbags"]


def test_usage_words(vocab):
    assert p("formal shirt", vocab).usages == ["Formal"]
    assert p("ethnic kurta", vocab).usages == ["Ethnic"]
    assert "Sports" in p("sporty tshirt", vocab).usages
    assert p("party dress", vocab).usages == ["Party"]


def test_combined_english(vocab):
    it = p("mens crimson tee under 20", vocab)
    assert set(it.genders) == MEN
    assert it.colours == ["Red"] and it.colour_words == ["crimson"]
    assert it.types == ["Tshirts"]
    assert it.price_max == 20 and it.price_min is None
    assert it.normalized.split()[:2] == ["men", "red"] and "under" not in it.normalized  # crimson -> red
    assert it.language == "en"


# --- prices -------------------------------------------------------------------------------
@pytest.mark.parametrize("text, lo, hi", [
    ("shoes under 50", None, 50), ("shoes below ¥300", None, 300), ("shirt less than $20", None, 20),
    ("watch over 100", 100, None), ("jeans between 20 and 40", 20, 40), ("jeans 20-40", 20, 40),
    ("jeans $20 - $40", 20, 40), ("bag under fifty", None, 50), ("watch above 1,200", 1200, None),
    ("bag under 5k", None, 5000), ("连衣裙300元以下", None, 300), ("低于300的鞋", None, 300),
    ("手表100到300元", 100, 300), ("包500元以上", 500, None), ("shoes between twenty and forty dollars", 20, 40),
])
def test_prices(vocab, text, lo, hi):
    it = p(text, vocab)
    assert (it.price_min, it.price_max) == (lo, hi)
    assert not any(ch.isdigit() for ch in it.normalized), it.normalized
    assert it.types, "the product word survives price removal"


def test_no_price_without_a_price_phrase(vocab):
    it = p("men black shoes", vocab)
    assert it.price_min is None and it.price_max is None
    it = p("size 8-10 shoes", vocab)  # a size range, not a price
    assert it.price_min is None and it.price_max is None and "8" in it.normalized
    it = p("uk 8-10 shoes $20-$40", vocab)
    assert (it.price_min, it.price_max) == (20, 40)


# --- negation -------------------------------------------------------------------------------
def test_english_negation(vocab):
    it = p("black shoes not leather", vocab)
    assert it.negated_terms == ["leather"] and "leather" not in it.normalized
    assert it.colours == ["Black"] and FOOTWEAR <= set(it.types)
    it = p("wallet without logo", vocab)
    assert it.negated_terms == ["logo"] and it.types == ["Wallets"]
    it = p("tshirt no sports", vocab)
    assert it.negated_usages == ["Sports"] and it.usages == []
    it = p("-leather belt", vocab)
    assert it.negated_terms == ["leather"] and it.types == ["Belts"]
    it = p("non-leather belt", vocab)
    assert it.negated_terms == ["leather"]
    it = p("shoes except sandals", vocab)
    assert "Sandals" in it.negated_types and "Sandals" not in it.types and "Heels" in it.types
    it = p("tshirt not red or blue", vocab)
    assert set(it.negated_colours) == {"Red"} | BLUE and it.colours == []
    it = p("jacket excluding black", vocab)
    assert it.negated_colours == ["Black"] and it.types == ["Jackets"]


def test_chinese_negation(vocab):
    it = p("不要运动款的黑色鞋", vocab)
    assert it.negated_usages == ["Sports"]
    assert it.colours == ["Black"]
    assert FOOTWEAR <= set(it.types)
    assert it.language == "zh"
    assert "sports" not in it.normalized and "black" in it.normalized
    it = p("除了红色的连衣裙", vocab)
    assert it.negated_colours == ["Red"] and it.types == ["Dresses"]
    it = p("非皮的包", vocab)
    assert it.negated_terms == ["leather"] and "Handbags" in it.types
    it = p("没有印花的T恤", vocab)
    assert it.negated_terms == ["print"] and it.types == ["Tshirts"]


# --- typos ------------------------------------------------------------------------------------
@pytest.mark.parametrize("typo, fix, types", [
    ("snekers", "sneakers", {"Sports Shoes", "Casual Shoes"}), ("jeens", "jeans", {"Jeans"}),
    ("wallett", "wallet", {"Wallets"}), ("sunglases", "sunglasses", {"Sunglasses"}),
    ("tshrt", "tshirt", {"Tshirts"}),
])
def test_typos(vocab, typo, fix, types):
    it = p(f"black {typo}", vocab)
    assert it.corrections == {typo: fix}
    assert set(it.types) == types
    assert typo not in it.normalized


def test_typo_rules(vocab):
    assert vocab.correct("black") is None  # in the vocabulary
    assert vocab.correct("tee") is None  # too short and a synonym
    assert vocab.correct("shades") is None  # a known synonym
    assert vocab.correct("crimson") is None
    assert vocab.correct("xqzvbnm") is None  # nothing close
    assert vocab.correct("nice") is None  # everyday word, not a typo of "nike"
    assert p("nice shoes", vocab).corrections == {}
    assert vocab.correct("blakc") == "black"  # transposition
    assert vocab.correct("sportsshoess") is None or osa("sportsshoess", vocab.correct("sportsshoess"), 2) <= 2
    assert vocab.correct("shrt") == "shirt"  # 4 letters: 1 edit, the most frequent candidate
    assert vocab.correct("shirtss") == "shirts"
    assert osa("abcd", "acbd", 2) == 1 and osa("kitten", "sitting", 5) == 3


# --- Chinese ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, types, colours, genders", [
    ("男士黑色手表", {"Watches"}, {"Black"}, MEN),
    ("女士黑色手提包", {"Handbags"}, {"Black"}, WOMEN),
    ("红色连衣裙", {"Dresses"}, {"Red"}, set()),
    ("藏青色衬衫", {"Shirts"}, {"Navy Blue"}, set()),
    ("海军蓝T恤", {"Tshirts"}, {"Navy Blue"}, set()),
    ("女款白色运动鞋", {"Sports Shoes"}, {"White", "Off White"}, WOMEN),
    ("儿童拖鞋", {"Flip Flops"}, set(), {"Boys", "Girls"}),
    ("咖啡色皮带", {"Belts"}, {"Brown", "Coffee Brown", "Tan", "Mushroom Brown"}, set()),
    ("灰色卫衣", {"Sweatshirts"}, {"Grey", "Charcoal", "Steel", "Grey Melange"}, set()),
    ("男式牛仔裤", {"Jeans"}, set(), MEN),
    ("金色耳环", {"Earrings"}, {"Gold", "Copper", "Bronze"}, set()),
    ("人字拖", {"Flip Flops"}, set(), set()),
    ("双肩包", {"Backpacks"}, set(), set()),
    ("墨镜", {"Sunglasses"}, set(), set()),
])
def test_chinese(vocab, text, types, colours, genders):
    it = p(text, vocab)
    assert set(it.types) == types
    assert set(it.colours) == colours
    assert set(it.genders) == genders
    assert it.language == "zh"
    assert it.normalized and it.normalized.isascii(), it.normalized


def test_chinese_table_covers_brief(vocab):
    zh = {"红色": "Red", "黑色": "Black", "蓝色": "Blue", "白色": "White", "灰色": "Grey", "绿色": "Green",
          "黄色": "Yellow", "粉色": "Pink", "紫色": "Purple", "棕色": "Brown", "米色": "Beige", "橙色": "Orange",
          "金色": "Gold", "银色": "Silver", "藏青": "Navy Blue"}
    for word, colour in zh.items():
        assert colour in p(word, vocab).colours, word
    types = {"衬衫": "Shirts", "手表": "Watches", "凉鞋": "Sandals", "高跟鞋": "Heels", "钱包": "Wallets",
             "太阳镜": "Sunglasses", "毛衣": "Sweaters", "夹克": "Jackets", "短裤": "Shorts", "裤子": "Trousers",
             "裙子": "Skirts", "上衣": "Tops", "袜子": "Socks", "帽子": "Caps", "围巾": "Scarves", "耳环": "Earrings",
             "项链": "Necklace and Chains", "香水": "Perfume and Body Mist", "口红": "Lipstick",
             "休闲鞋": "Casual Shoes", "运动鞋": "Sports Shoes", "腰带": "Belts"}
    for word, t in types.items():
        assert t in p(word, vocab).types, word
    assert p("正装衬衫", vocab).usages == ["Formal"]


def test_every_chinese_entry_means_something():
    """Each Chinese word maps to English the lexicon of the full catalogue understands
    (or to a material or joining word)."""
    with (DATA / "catalogue.csv").open(encoding="utf-8") as f:
        full = list(csv.DictReader(f))
    lex = Vocabulary.build([r["articleType"] for r in full], [r["baseColour"] for r in full],
                           [r["gender"] for r in full], [r["usage"] for r in full], []).lexicon
    free = {"leather", "cotton", "wool", "silk", "denim", "canvas", "lace", "print", "striped", "check",
            "graphic", "long sleeve", "short sleeve", "sleeveless", "round neck", "v neck", "hooded", "not",
            "and", "or", "boots", "raincoat", "water bottle"}
    missing = [zh for zh, en in T.ZH_TO_EN.items() if en not in free and en not in lex.entries]
    assert not missing, missing


# --- autocomplete ------------------------------------------------------------------------------------
def test_suggest_partial_word(vocab):
    s = vocab.suggest("bla")
    assert s and s[0] == "black"
    assert all(x.startswith("bla") for x in s)
    assert any(x.startswith("black ") and len(x.split()) >= 2 for x in s)


def test_suggest_phrases(vocab):
    s = vocab.suggest("men bl")
    assert len(s) == 8 and all(x.startswith("men bl") for x in s)
    assert any(x.split()[-1] in {"tshirts", "shirts", "shoes", "watches"} for x in s)
    s = vocab.suggest("women ")
    assert s and all(x.startswith("women ") for x in s)
    assert vocab.suggest("mens bl")[0].startswith("men bl")


def test_suggest_chinese(vocab):
    s = vocab.suggest("男士黑")
    assert s and all(x.startswith("men black") for x in s)
    assert "men black" in s
    s = vocab.suggest("连衣")
    assert s and s[0] == "dress"


def test_suggest_limit_and_empty(vocab):
    assert len(vocab.suggest("s", limit=3)) == 3
    assert vocab.suggest("", limit=5) and len(vocab.suggest("", limit=5)) == 5
    assert vocab.suggest("zzzzqq") == []


# --- vocabulary ----------------------------------------------------------------------------------------
def test_vocab_round_trip(vocab):
    d = vocab.to_dict()
    d2 = json.loads(json.dumps(d))
    v2 = Vocabulary.from_dict(d2)
    assert v2 == vocab
    for q in ("mens crimson tee under 20", "不要运动款的黑色鞋", "snekers"):
        assert parse(q, v2).to_dict() == parse(q, vocab).to_dict()
    assert v2.suggest("men bl") == vocab.suggest("men bl")


def test_vocab_for_another_catalogue():
    """No articleType: types from a hierarchical category; synonyms only for existing values."""
    v = Vocabulary.build(
        types=["Home & Kitchen > Furniture > Mattresses", "Home & Kitchen > Furniture > Office Chairs",
               "Electronics > Headphones", "Home & Kitchen > Furniture > Office Chairs"],
        colours=["Dark Grey", "Black", "", "Light Blue"], genders=["", "", "", ""], usages=[],
        texts=["Memory foam mattress queen", "Ergonomic mesh office chair", "Wireless headphones",
               "Office chair with lumbar support"],
    )
    assert set(v.types) == {"Mattresses", "Office Chairs", "Headphones"}
    assert p("queen mattress", v).types == ["Mattresses"]
    assert p("grey chair", v).types == ["Office Chairs"]  # head noun of a multi-word type
    assert p("grey chair", v).colours == ["Dark Grey"]  # "Dark Grey" joins the grey family
    assert set(p("blue headphones", v).colours) == {"Light Blue"}
    assert p("sneakers", v).types == []  # no shoe types here: the synonym adds nothing
    assert p("men chair", v).genders == []
    assert v.suggest("off")[0].startswith("office")
    assert Vocabulary.from_dict(json.loads(json.dumps(v.to_dict()))) == v


def test_empty_vocabulary_still_parses():
    v = Vocabulary.build([], [], [], [], [])
    it = parse("red shoes under 30", v)
    assert it.price_max == 30 and it.types == [] and it.colours == []
    assert it.normalized == "red shoes"
    assert parse("", v).is_empty()


def test_intent_dict_and_empty(vocab):
    it = p("blue jeans", vocab)
    d = it.to_dict()
    assert d["types"] == ["Jeans"] and json.loads(json.dumps(d)) == d
    assert not it.is_empty()
    assert p("something nice", vocab).is_empty()


def test_parse_is_fast(vocab):
    queries = ["mens crimson tee under 20", "不要运动款的黑色鞋", "women navy blue casual shoes", "snekers",
               "男士黑色手表", "black shoes not leather between 20 and 40", "kids pink top"]
    for q in queries:  # warm caches (jieba, typo index)
        parse(q, vocab)
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        for q in queries:
            parse(q, vocab)
    per = (time.perf_counter() - t0) / (n * len(queries))
    assert per < 1e-3, f"{per * 1e3:.3f} ms per query"


# --- the dev benchmark -----------------------------------------------------------------------------------
def test_dev_queries_agree_with_qrels(vocab, rows):
    """For every dev query, the catalogue products matching the parse (type, colour family,
    gender) are exactly the grade-2 products of the qrels."""
    qpath = BENCH / "fashion" / "dev-queries.jsonl"
    if not qpath.exists():
        pytest.fail(f"bench not found at {qpath}: set SHOPSEARCH_BENCH")
    queries = [json.loads(line) for line in qpath.read_text(encoding="utf-8").splitlines() if line.strip()]
    grade2: dict[str, set[str]] = defaultdict(set)
    with (BENCH / "fashion" / "dev-qrels.tsv").open(encoding="utf-8") as f:
        for line in f:
            qid, _, pid, grade = line.split()
            if grade == "2":
                grade2[qid].add(pid)
    by_id = {r["id"]: r for r in rows}
    assert sum(q["qid"].startswith("dev-t") for q in queries) == 300

    mismatches = []
    for q in queries:
        it = parse(q["text"], vocab)
        g2 = [by_id[pid] for pid in grade2[q["qid"]]]
        problems = []
        if not it.types:
            problems.append("no type")
        for attr, got in (("articleType", it.types), ("baseColour", it.colours), ("gender", it.genders)):
            if got:
                missing = {r[attr] for r in g2} - set(got)
                if missing:
                    problems.append(f"{attr} missing {sorted(missing)}")
        pool = [r for r in rows if q.get("split") != "unseen" or int(r["id"]) % 5 == 0]
        predicted = {r["id"] for r in pool if r["articleType"] in it.types
                     and (not it.colours or r["baseColour"] in it.colours)
                     and (not it.genders or r["gender"] in it.genders)}
        if predicted != grade2[q["qid"]]:
            problems.append(f"{len(predicted - grade2[q['qid']])} extra, {len(grade2[q['qid']] - predicted)} missed")
        if problems:
            mismatches.append((q["qid"], q["text"], problems))
    assert not mismatches, f"{len(mismatches)} of {len(queries)} dev queries disagree: {mismatches[:20]}"


def test_key_of_normalises():
    assert key_of("Perfume & Body-Mist") == "perfume and body mist"
    assert key_of("Men's") == "mens"
