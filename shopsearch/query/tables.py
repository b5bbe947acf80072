"""Curated query tables: colour families, type and gender synonyms, usage words,
negation markers and a Chinese-to-English concept table.

Values on the right-hand side are catalogue spellings (matched case-insensitively).
The vocabulary keeps an entry only when its targets exist in the catalogue it was
built from, so these tables can be generous without inventing facets.

Colour families were checked against the fashion dev qrels (grade 2 = product has
the named type, colour family and gender): every dev query's grade-2 set equals the
catalogue products that match the families below.
"""

from __future__ import annotations

from functools import lru_cache

# --- colours -----------------------------------------------------------------------
# Family word -> catalogue colour values. The value that spells the family word
# itself ("Blue") is included; multi-word values containing a family word
# ("Dark Blue" in another catalogue) join that family automatically.
COLOUR_FAMILIES: dict[str, tuple[str, ...]] = {
    "black": ("Black",),
    "white": ("White", "Off White"),
    "grey": ("Grey", "Charcoal", "Steel", "Grey Melange"),
    "blue": ("Blue", "Navy Blue", "Teal", "Turquoise Blue"),
    "navy": ("Navy Blue", "Navy"),
    "red": ("Red",),
    "maroon": ("Maroon", "Burgundy"),
    "brown": ("Brown", "Coffee Brown", "Tan", "Mushroom Brown"),
    "beige": ("Beige", "Cream", "Khaki", "Nude", "Skin"),
    "yellow": ("Yellow", "Mustard"),
    "orange": ("Orange", "Rust"),
    "pink": ("Pink", "Magenta", "Rose"),
    "green": ("Green", "Olive", "Lime Green", "Sea Green", "Fluorescent Green"),
    "purple": ("Purple", "Magenta", "Lavender", "Mauve"),
    "silver": ("Silver", "Steel", "Metallic"),
    "gold": ("Gold", "Copper", "Bronze"),
}


def colour_families(colour: str) -> set[str]:
    """The families a catalogue colour belongs to ("Navy Blue" -> blue, navy); itself if none."""
    fam = {f for f, members in COLOUR_FAMILIES.items() if colour in members}
    return fam or {colour.lower()}


# Word or phrase -> family words and/or catalogue colour values.
COLOUR_SYNONYMS: dict[str, tuple[str, ...]] = {
    "gray": ("grey",), "ash": ("grey",), "slate": ("grey",), "melange": ("Grey Melange",),
    "heather grey": ("Grey Melange", "Grey"),
    "crimson": ("red",), "scarlet": ("red",), "cherry": ("red",), "ruby": ("red",), "vermilion": ("red",),
    "wine": ("maroon",), "oxblood": ("maroon",), "burgundy": ("maroon",),
    "dark blue": ("Navy Blue", "Blue"), "indigo": ("Navy Blue", "Blue"),
    "light blue": ("Blue", "Turquoise Blue"), "sky blue": ("Blue", "Turquoise Blue"),
    "baby blue": ("Blue", "Turquoise Blue"), "royal blue": ("Blue",),
    "turquoise": ("Turquoise Blue", "Teal"), "aqua": ("Turquoise Blue", "Teal"), "cyan": ("Turquoise Blue", "Teal"),
    "ivory": ("Off White", "Cream"), "offwhite": ("Off White",), "eggshell": ("Off White", "Cream"),
    "camel": ("Tan", "Beige", "Khaki"), "chocolate": ("brown",), "coffee": ("Coffee Brown", "Brown"),
    "mushroom": ("Mushroom Brown",), "sand": ("beige",), "stone": ("beige",), "champagne": ("beige",),
    "flesh": ("Nude", "Skin"),
    "lemon": ("yellow",), "golden": ("gold",), "rose gold": ("Copper", "Gold"),
    "tangerine": ("orange",), "coral": ("Peach", "Orange"), "apricot": ("Peach",),
    "fuchsia": ("Magenta", "Pink"), "hot pink": ("Magenta", "Pink"),
    "violet": ("purple",), "plum": ("purple",), "lilac": ("Lavender", "Purple"),
    "army green": ("Olive",), "military green": ("Olive",), "mint": ("Sea Green", "Green"),
    "mint green": ("Sea Green", "Green"), "emerald": ("green",), "forest green": ("green",),
    "bottle green": ("green",), "lime": ("Lime Green",), "neon green": ("Fluorescent Green",),
    "neon": ("Fluorescent Green",),
    "chrome": ("Silver", "Steel"), "platinum": ("silver",), "silvery": ("silver",),
    "jet black": ("black",),
    "multicolour": ("Multi",), "multicolor": ("Multi",), "multicoloured": ("Multi",), "multicolored": ("Multi",),
    "multi colour": ("Multi",), "multi color": ("Multi",), "colourful": ("Multi",), "colorful": ("Multi",),
}

# Colour values that are no colour at all.
NON_VALUES: frozenset[str] = frozenset({"", "na", "n/a", "none", "null", "nan", "-", "unknown", "other"})

# --- types -------------------------------------------------------------------------
_FOOTWEAR = ("Casual Shoes", "Sports Shoes", "Formal Shoes", "Heels", "Flats", "Sandals", "Sports Sandals",
             "Flip Flops", "Booties", "Shoes", "Boots", "Sneakers", "Slippers")
_BAGS = ("Handbags", "Backpacks", "Rucksacks", "Laptop Bag", "Messenger Bag", "Duffel Bag", "Trolley Bag",
         "Clutches", "Bags")
_JEWELLERY = ("Earrings", "Necklace and Chains", "Pendant", "Ring", "Bangle", "Bracelet", "Jewellery Set")

# Word or phrase -> catalogue type values. Plural/singular forms are derived.
TYPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    # tops
    "tee": ("Tshirts",), "tees": ("Tshirts",), "t shirt": ("Tshirts",), "t shirts": ("Tshirts",),
    "tshirt": ("Tshirts",), "polo": ("Tshirts",), "polo shirt": ("Tshirts",), "polos": ("Tshirts",),
    "blouse": ("Tops",), "tank top": ("Tops", "Camisoles"), "cami": ("Camisoles",), "crop top": ("Tops",),
    "hoodie": ("Sweatshirts",), "hoodies": ("Sweatshirts",), "hoody": ("Sweatshirts",),
    "sweat shirt": ("Sweatshirts",),
    "jumper": ("Sweaters",), "pullover": ("Sweaters",), "cardigan": ("Sweaters",),
    "knitwear": ("Sweaters",),
    "coat": ("Jackets",), "windcheater": ("Jackets", "Rain Jacket"), "raincoat": ("Rain Jacket",),
    "jacket": ("Jackets",),
    "gown": ("Dresses",), "frock": ("Dresses",), "dress": ("Dresses",),
    "kurti": ("Kurtis",), "kurta": ("Kurtas",),
    "saree": ("Sarees",), "sari": ("Sarees",),
    # bottoms
    "pants": ("Trousers", "Track Pants", "Lounge Pants"), "pant": ("Trousers", "Track Pants", "Lounge Pants"),
    "chinos": ("Trousers",), "slacks": ("Trousers",), "trouser": ("Trousers",),
    "joggers": ("Track Pants",), "trackpants": ("Track Pants",), "sweatpants": ("Track Pants",),
    "track suit": ("Tracksuits",), "denim jeans": ("Jeans",),
    "bermuda": ("Shorts",), "bermudas": ("Shorts",),
    "underwear": ("Briefs", "Boxers", "Trunk", "Bra", "Innerwear Vests"),
    "innerwear": ("Briefs", "Boxers", "Trunk", "Bra", "Innerwear Vests"),
    "panties": ("Briefs",), "panty": ("Briefs",), "brief": ("Briefs",), "bras": ("Bra",), "lingerie": ("Bra", "Briefs"),
    "vest": ("Innerwear Vests",), "vests": ("Innerwear Vests",), "trunks": ("Trunk",),
    "pyjamas": ("Night suits", "Lounge Pants"), "pajamas": ("Night suits", "Lounge Pants"),
    "nightwear": ("Night suits", "Nightdress"), "night suit": ("Night suits",), "nighty": ("Nightdress",),
    "nightie": ("Nightdress",), "nightgown": ("Nightdress",),
    "swimsuit": ("Swimwear",), "bikini": ("Swimwear",), "swimming costume": ("Swimwear",),
    # footwear
    "shoe": _FOOTWEAR, "shoes": _FOOTWEAR, "footwear": _FOOTWEAR,
    "sneakers": ("Sports Shoes", "Casual Shoes", "Sneakers"), "sneaker": ("Sports Shoes", "Casual Shoes", "Sneakers"),
    "trainers": ("Sports Shoes", "Casual Shoes"), "trainer": ("Sports Shoes", "Casual Shoes"),
    "running shoes": ("Sports Shoes",), "running shoe": ("Sports Shoes",), "training shoes": ("Sports Shoes",),
    "gym shoes": ("Sports Shoes",), "athletic shoes": ("Sports Shoes",),
    "loafers": ("Casual Shoes", "Formal Shoes"), "loafer": ("Casual Shoes", "Formal Shoes"),
    "moccasins": ("Casual Shoes",), "canvas shoes": ("Casual Shoes",),
    "oxfords": ("Formal Shoes",), "brogues": ("Formal Shoes",), "derby": ("Formal Shoes",),
    "dress shoes": ("Formal Shoes",), "office shoes": ("Formal Shoes",),
    "leather shoes": ("Formal Shoes", "Casual Shoes"),
    "boots": ("Booties", "Boots"), "boot": ("Booties", "Boots"), "ankle boots": ("Booties",),
    "slippers": ("Flip Flops", "Slippers"), "slipper": ("Flip Flops", "Slippers"), "slides": ("Flip Flops",),
    "flipflops": ("Flip Flops",), "flip flop": ("Flip Flops",), "chappals": ("Flip Flops", "Sandals"),
    "chappal": ("Flip Flops", "Sandals"), "floaters": ("Sandals", "Sports Sandals"),
    "stilettos": ("Heels",), "pumps": ("Heels",), "wedges": ("Heels",), "high heels": ("Heels",),
    "ballerinas": ("Flats",), "ballet flats": ("Flats",), "sandal": ("Sandals",),
    # bags and small leather goods
    "bag": _BAGS, "bags": _BAGS,
    "hand bag": ("Handbags",), "hand bags": ("Handbags",), "tote": ("Handbags",), "totes": ("Handbags",),
    "tote bag": ("Handbags",), "shoulder bag": ("Handbags",), "sling bag": ("Handbags", "Messenger Bag"),
    "purse": ("Handbags", "Clutches", "Wallets"), "purses": ("Handbags", "Clutches", "Wallets"),
    "rucksack": ("Backpacks", "Rucksacks"), "rucksacks": ("Backpacks", "Rucksacks"),
    "school bag": ("Backpacks",), "duffle bag": ("Duffel Bag",), "duffle": ("Duffel Bag",), "duffel": ("Duffel Bag",),
    "gym bag": ("Duffel Bag",), "travel bag": ("Duffel Bag", "Trolley Bag"), "suitcase": ("Trolley Bag",),
    "luggage": ("Trolley Bag", "Duffel Bag"), "trolley": ("Trolley Bag",),
    "billfold": ("Wallets",), "card holder": ("Wallets",),
    # accessories
    "shades": ("Sunglasses",), "sunglass": ("Sunglasses",), "sunnies": ("Sunglasses",), "goggles": ("Sunglasses",),
    "sun glasses": ("Sunglasses",),
    "wristwatch": ("Watches",), "wrist watch": ("Watches",), "timepiece": ("Watches",), "smartwatch": ("Watches",),
    "hat": ("Caps", "Hat"), "hats": ("Caps", "Hat"), "beanie": ("Caps", "Hat"), "cap": ("Caps",),
    "scarf": ("Scarves", "Stoles", "Mufflers"), "scarves": ("Scarves", "Stoles", "Mufflers"),
    "necktie": ("Ties",), "tie": ("Ties",), "bow tie": ("Ties",),
    "jewellery": _JEWELLERY, "jewelry": _JEWELLERY, "studs": ("Earrings",), "jhumka": ("Earrings",),
    "earring": ("Earrings",), "necklace": ("Necklace and Chains",), "necklaces": ("Necklace and Chains",),
    "chain": ("Necklace and Chains",), "chains": ("Necklace and Chains",), "bangles": ("Bangle",),
    "rings": ("Ring",), "bracelets": ("Bracelet",), "pendants": ("Pendant",),
    "belt": ("Belts",), "wallet": ("Wallets",), "socks": ("Socks",), "sock": ("Socks",),
    "umbrella": ("Umbrellas",), "bottle": ("Water Bottle",), "gloves": ("Gloves",), "glove": ("Gloves",),
    # beauty
    "perfume": ("Perfume and Body Mist",), "perfumes": ("Perfume and Body Mist",),
    "fragrance": ("Perfume and Body Mist", "Fragrance Gift Set"), "cologne": ("Perfume and Body Mist",),
    "scent": ("Perfume and Body Mist",), "body spray": ("Perfume and Body Mist", "Deodorant"),
    "edt": ("Perfume and Body Mist",), "edp": ("Perfume and Body Mist",),
    "deo": ("Deodorant",), "deodorants": ("Deodorant",), "antiperspirant": ("Deodorant",),
    "lip colour": ("Lipstick",), "lip color": ("Lipstick",), "lipsticks": ("Lipstick",),
    "nail paint": ("Nail Polish",), "nail colour": ("Nail Polish",), "nail color": ("Nail Polish",),
    "nail enamel": ("Nail Polish",), "nail varnish": ("Nail Polish",),
    "moisturiser": ("Face Moisturisers",), "moisturizer": ("Face Moisturisers",), "face cream": ("Face Moisturisers",),
    "sunblock": ("Sunscreen",), "face wash": ("Face Wash and Cleanser",), "cleanser": ("Face Wash and Cleanser",),
    "eyeliner": ("Kajal and Eyeliner",), "kajal": ("Kajal and Eyeliner",), "makeup": (
        "Lipstick", "Lip Gloss", "Kajal and Eyeliner", "Foundation and Primer", "Eyeshadow", "Mascara", "Compact",
        "Highlighter and Blush", "Concealer", "Nail Polish"),
}

# Words whose singular is not a product word ("shorts" -> "short").
PLURAL_ONLY: frozenset[str] = frozenset({
    "jeans", "shorts", "trousers", "pants", "briefs", "boxers", "leggings", "sunglasses", "glasses", "capris",
    "tights", "jeggings", "pyjamas", "pajamas", "goggles", "suspenders", "chinos", "slacks", "joggers", "trunks",
    "stockings", "sweatpants", "bermudas", "dungarees", "overalls", "scissors", "binoculars", "headphones",
    "earphones", "clothes", "innerwear", "swimwear", "footwear", "nightwear", "sportswear", "outerwear", "news",
    "dress", "glass", "grass", "class", "boss", "cross", "bus", "gas", "lens", "mattress", "bliss", "canvas",
})

# Head nouns of multi-word types that must not become a type word on their own.
HEAD_STOP: frozenset[str] = frozenset({
    "colour", "color", "care", "essentials", "accessory", "accessories", "set", "sets", "kit", "gift", "gifts",
    "and", "of", "for", "with", "other", "others", "misc", "general", "remover", "cover", "covers",
})

# --- gender ------------------------------------------------------------------------
# Query word -> gender concept.
GENDER_WORDS: dict[str, str] = {
    "men": "men", "mens": "men", "man": "men", "male": "men", "males": "men", "gents": "men", "gent": "men",
    "gentlemen": "men", "guys": "men", "guy": "men", "for him": "men", "him": "men", "his": "men",
    "women": "women", "womens": "women", "woman": "women", "ladies": "women", "lady": "women",
    "female": "women", "females": "women", "womans": "women", "for her": "women", "her": "women",
    "girls": "girls", "girl": "girls", "girly": "girls",
    "boys": "boys", "boy": "boys",
    "kids": "kids", "kid": "kids", "children": "kids", "childrens": "kids", "child": "kids", "childs": "kids",
    "junior": "kids", "juniors": "kids", "toddler": "kids", "baby": "kids", "infant": "kids", "youth": "kids",
    "unisex": "unisex",
}
# Gender concept -> lower-case catalogue values that belong to it.
GENDER_VALUES: dict[str, tuple[str, ...]] = {
    "men": ("men", "man", "male", "mens", "gents", "m"),
    "women": ("women", "woman", "female", "womens", "ladies", "w", "f"),
    "boys": ("boys", "boy"),
    "girls": ("girls", "girl"),
    "kids": ("boys", "girls", "boy", "girl", "kids", "kid", "children", "child", "baby", "infant", "toddler",
             "junior", "unisex kids", "kids unisex"),
    "unisex": ("unisex", "all", "adult unisex", "adults"),
}
# Adult concepts also match unisex products (confirmed by the dev qrels).
GENDER_WITH_UNISEX: frozenset[str] = frozenset({"men", "women"})
# When a catalogue has no Boys/Girls, these fall back to its kids values.
GENDER_FALLBACK: dict[str, str] = {"boys": "kids", "girls": "kids"}

# --- usage -------------------------------------------------------------------------
USAGE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "casual": ("Casual", "Smart Casual"), "everyday": ("Casual",), "daily wear": ("Casual",),
    "smart casual": ("Smart Casual",),
    "sport": ("Sports",), "sports": ("Sports",), "sporty": ("Sports",), "athletic": ("Sports",),
    "gym": ("Sports",), "workout": ("Sports",), "running": ("Sports",), "training": ("Sports",),
    "fitness": ("Sports",),
    "formal": ("Formal",), "office": ("Formal", "Smart Casual"), "business": ("Formal",),
    "work": ("Formal", "Smart Casual"), "formals": ("Formal",),
    "ethnic": ("Ethnic",), "traditional": ("Ethnic",), "indian": ("Ethnic",), "festive": ("Ethnic", "Party"),
    "party": ("Party",), "partywear": ("Party",), "party wear": ("Party",), "evening": ("Party",),
    "travel": ("Travel",), "travelling": ("Travel",), "home": ("Home",), "lounge": ("Home",),
}

# --- negation, joining and filler words ---------------------------------------------
NEGATION_EN: frozenset[str] = frozenset({
    "not", "no", "without", "except", "excluding", "exclude", "excludes", "non", "minus", "sans", "nor",
    "dont", "avoid", "never",
})
NEGATION_ZH: tuple[str, ...] = ("不要", "不是", "非", "没有", "除了", "别", "不含", "不带", "无", "不想要", "不用",
                                 "排除", "去掉", "不需要", "别要")
# After a negated concept these carry the negation on to the next one.
OR_WORDS: frozenset[str] = frozenset({"or", "nor", ",", "、", "/"})
AND_WORDS: frozenset[str] = frozenset({"and", "&"})
# Skipped between a negation marker and what it negates.
NEG_FILLERS: frozenset[str] = frozenset({"a", "an", "the", "any", "with", "in", "made", "of", "want", "too", "so"})
STOPWORDS_EN: frozenset[str] = frozenset({
    "a", "an", "the", "for", "with", "in", "of", "and", "or", "to", "on", "by", "at", "me", "show", "i", "want",
    "need", "looking", "some", "any", "please", "find", "buy", "get", "price", "priced", "cost", "costing",
    "budget", "cheap", "cheaper", "that", "this", "is", "are", "my", "something",
})

# --- prices --------------------------------------------------------------------------
NUMBER_WORDS: dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
}

# --- Chinese -> English ---------------------------------------------------------------
# Chinese word -> English phrase that the English tables understand. Colour words
# also match with/without the trailing 色 (added by the vocabulary).
ZH_TO_EN: dict[str, str] = {
    # colours
    "红色": "red", "红": "red", "大红": "red", "正红": "red", "黑色": "black", "黑": "black", "白色": "white",
    "白": "white", "纯白": "white", "蓝色": "blue", "蓝": "blue", "天蓝": "light blue", "浅蓝": "light blue",
    "宝蓝": "royal blue", "藏青": "navy", "藏蓝": "navy", "海军蓝": "navy", "深蓝": "navy", "灰色": "grey",
    "灰": "grey", "深灰": "charcoal", "炭灰": "charcoal", "浅灰": "grey", "麻灰": "grey melange",
    "绿色": "green", "绿": "green", "军绿": "olive", "橄榄绿": "olive", "橄榄色": "olive", "墨绿": "green",
    "青色": "teal", "湖蓝": "turquoise", "黄色": "yellow", "黄": "yellow", "姜黄": "mustard", "芥末黄": "mustard",
    "粉色": "pink", "粉红": "pink", "粉": "pink", "玫红": "magenta", "紫红": "magenta", "玫瑰色": "rose",
    "紫色": "purple", "紫": "purple", "薰衣草紫": "lavender", "淡紫": "lavender", "浅紫": "lavender",
    "棕色": "brown", "棕": "brown", "咖啡色": "brown", "咖啡": "brown", "褐色": "brown", "驼色": "camel",
    "米色": "beige", "米白": "off white", "奶油色": "cream", "杏色": "beige", "卡其": "khaki", "卡其色": "khaki",
    "裸色": "nude", "肤色": "skin", "肉色": "nude", "橙色": "orange", "橙": "orange", "橘色": "orange",
    "橘红": "orange", "铁锈红": "rust", "金色": "gold", "金": "gold", "银色": "silver", "银": "silver",
    "铜色": "copper", "古铜": "bronze", "玫瑰金": "rose gold", "酒红": "maroon", "枣红": "maroon",
    "酒红色": "maroon", "勃艮第红": "burgundy", "桃色": "peach", "桃红": "peach", "彩色": "multicolour",
    "多色": "multicolour", "荧光绿": "fluorescent green", "海绿": "sea green",
    # gender
    "男": "men", "男士": "men", "男款": "men", "男式": "men", "男性": "men", "男人": "men", "男装": "men",
    "男生": "men", "男子": "men", "女": "women", "女士": "women", "女款": "women", "女式": "women",
    "女性": "women", "女人": "women", "女装": "women", "女生": "women", "女子": "women", "儿童": "kids",
    "童装": "kids", "孩子": "kids", "小孩": "kids", "童": "kids", "童款": "kids", "宝宝": "kids",
    "男童": "boys", "男孩": "boys", "女童": "girls", "女孩": "girls", "中性": "unisex", "男女通用": "unisex",
    # types
    "连衣裙": "dress", "裙装": "dress", "长裙": "dress", "衬衫": "shirt", "衬衣": "shirt", "t恤": "tshirt",
    "体恤": "tshirt", "polo衫": "polo", "牛仔裤": "jeans", "手表": "watch", "腕表": "watch", "表": "watch",
    "鞋": "shoes", "鞋子": "shoes", "运动鞋": "sports shoes", "跑鞋": "running shoes", "跑步鞋": "running shoes",
    "球鞋": "sports shoes", "休闲鞋": "casual shoes", "板鞋": "casual shoes", "帆布鞋": "casual shoes",
    "皮鞋": "formal shoes", "正装鞋": "formal shoes", "凉鞋": "sandals", "拖鞋": "flip flops",
    "人字拖": "flip flops", "高跟鞋": "heels", "平底鞋": "flats", "靴子": "boots", "短靴": "boots",
    "手提包": "handbag", "包": "handbag", "包包": "handbag", "女包": "handbag", "单肩包": "handbag",
    "手拿包": "clutch", "背包": "backpack", "双肩包": "backpack", "书包": "backpack", "钱包": "wallet",
    "钱夹": "wallet", "皮夹": "wallet", "电脑包": "laptop bag", "旅行包": "duffel bag", "斜挎包": "messenger bag",
    "行李箱": "trolley bag", "拉杆箱": "trolley bag", "皮带": "belt", "腰带": "belt", "太阳镜": "sunglasses",
    "墨镜": "sunglasses", "毛衣": "sweater", "针织衫": "sweater", "卫衣": "sweatshirt", "夹克": "jacket",
    "外套": "jacket", "西装外套": "blazer", "西装": "blazer", "马甲": "waistcoat", "雨衣": "raincoat",
    "短裤": "shorts", "裤子": "trousers", "长裤": "trousers", "西裤": "trousers", "休闲裤": "trousers",
    "运动裤": "track pants", "卫裤": "track pants", "打底裤": "leggings", "七分裤": "capris",
    "裙子": "skirt", "半身裙": "skirt", "短裙": "skirt", "上衣": "top", "袜子": "socks", "丝袜": "stockings",
    "帽子": "cap", "棒球帽": "cap", "围巾": "scarf", "披肩": "stole", "耳环": "earrings", "耳钉": "earrings",
    "项链": "necklace", "吊坠": "pendant", "戒指": "ring", "手镯": "bangle", "手链": "bracelet", "首饰": "jewellery",
    "香水": "perfume", "口红": "lipstick", "唇膏": "lipstick", "唇彩": "lip gloss", "指甲油": "nail polish",
    "内裤": "briefs", "文胸": "bra", "胸罩": "bra", "内衣": "innerwear", "背心": "vest", "领带": "tie",
    "袖扣": "cufflinks", "纱丽": "saree", "睡衣": "night suit", "睡裙": "nightdress", "泳衣": "swimwear",
    "运动服": "tracksuit", "运动套装": "tracksuit", "手套": "gloves", "连体裤": "jumpsuit", "雨伞": "umbrella",
    "伞": "umbrella", "水杯": "water bottle", "水壶": "water bottle", "止汗露": "deodorant", "除臭剂": "deodorant",
    "眼线": "eyeliner", "睫毛膏": "mascara", "眼影": "eyeshadow", "粉底": "foundation", "面霜": "moisturiser",
    "防晒霜": "sunscreen", "洗面奶": "face wash", "库尔塔": "kurta", "长衫": "tunic",
    # usage
    "运动": "sports", "运动款": "sports", "运动风": "sports", "休闲": "casual", "休闲款": "casual",
    "正装": "formal", "正式": "formal", "商务": "formal", "民族风": "ethnic", "派对": "party", "聚会": "party",
    "旅行": "travel",
    # materials and features (become negated terms or search words)
    "皮": "leather", "皮革": "leather", "真皮": "leather", "皮质": "leather", "棉": "cotton", "纯棉": "cotton",
    "羊毛": "wool", "丝绸": "silk", "真丝": "silk", "牛仔": "denim", "帆布": "canvas", "蕾丝": "lace",
    "印花": "print", "条纹": "striped", "格子": "check", "图案": "graphic", "长袖": "long sleeve",
    "短袖": "short sleeve", "无袖": "sleeveless", "圆领": "round neck", "v领": "v neck", "连帽": "hooded",
    # joining words
    "和": "and", "与": "and", "及": "and", "或": "or", "或者": "or",
}
# Chinese negation markers map to "not".
ZH_TO_EN.update({w: "not" for w in NEGATION_ZH})
# Chinese filler words: dropped, but they separate concepts (运动款的鞋 is not 运动鞋).
STOPWORDS_ZH: frozenset[str] = frozenset({
    "的", "了", "款", "一", "个", "件", "双", "条", "只", "我", "想", "要", "买", "给", "找", "适合", "有", "带",
    "色", "款式", "新款", "的话", "一些", "推荐", "请", "帮", "一下", "吧", "呢", "颜色", "穿", "用", "是", "在",
    "价格", "价位", "预算", "元", "块", "左右",
})

# Everyday English words a shopper types that are not in product titles: never
# "corrected" into a catalogue word ("nice" is not a typo of "nike").
COMMON_WORDS: frozenset[str] = frozenset("""
nice cute cool good great best better new latest cheap cheapest expensive premium luxury quality comfy
comfortable stylish trendy fancy simple elegant classic vintage modern pretty beautiful lovely smart sexy
warm cool soft hard light heavy dark bright pale deep long short tall small big large huge tiny little
slim skinny loose tight baggy fitted plain simple basic everyday daily summer winter spring autumn fall
rainy sunny office work school college wedding birthday gift gifts present dad mom mum father mother
wife husband son daughter brother sister friend boyfriend girlfriend baby teen teens adult adults old young
waterproof breathable lightweight durable washable reversible adjustable original genuine real fake
like love need want wear wearing match matching pair pairs size sizes fit fits fitting small medium
under over above below between with without from less more than most least only also very really
something anything nothing everything some many much any every other another same different similar
what which where when show give find look looking search please thanks thank hello
""".split())


@lru_cache(maxsize=1)
def zh_table() -> dict[str, str]:
    """Chinese word -> English phrase ('' for filler words), with 色 variants of colours.
    Its words are also the tokenizer's Chinese dictionary (index/lexical.py)."""
    table: dict[str, str] = {w: "" for w in STOPWORDS_ZH}
    colour_words = set(COLOUR_FAMILIES) | set(COLOUR_SYNONYMS) | {"peach", "multicolour"}
    colour_words |= {m.lower() for ms in COLOUR_FAMILIES.values() for m in ms}
    for zh, en in ZH_TO_EN.items():
        table[zh.lower()] = en
    for zh, en in ZH_TO_EN.items():
        if en in colour_words:
            if not zh.endswith("色"):
                table.setdefault(zh + "色", en)
            elif len(zh) > 2:
                table.setdefault(zh[:-1], en)
    return table
