"""Brands for catalogues without a brand column. Many shops title products
"<Brand> <Gender> <Colour> <Type>" ("Puma Men Black Sports Shoes"), so the words
before the gender word name the brand. The image tower learns to read a brand off
the photo (logos, house styles) from these labels, and a photo query that names a
brand uses that head's prediction as evidence."""

from __future__ import annotations

import re
from typing import Iterable

# Gender words that end a brand prefix in a title (a narrower list than the query
# tables': "her" or "him" inside a title is not a gender marker).
_TITLE_GENDER = frozenset({"men", "mens", "men's", "women", "womens", "women's", "ladies", "boys", "boy's", "girls",
                           "girl's", "kids", "unisex", "baby", "infant"})
MAX_BRAND_WORDS = 4


def brand_from_title(title: str) -> str:
    """The brand a "<Brand> <Gender> ..." title starts with, lower-cased; "" when the
    title does not follow that pattern (no gender word in its first few words)."""
    words = str(title or "").split()
    for i, w in enumerate(words[: MAX_BRAND_WORDS + 1]):
        if w.lower().strip(",.") in _TITLE_GENDER:
            return " ".join(words[:i]).lower() if i else ""
    return ""


def product_brand(brand: str, title: str) -> str:
    """The product's brand column if it has one, else the title's prefix."""
    return str(brand).strip().lower() if brand and str(brand).strip() else brand_from_title(title)


class BrandMatcher:
    """Finds a known brand named in a query (whole words, longest first)."""

    def __init__(self, brands: Iterable[str]) -> None:
        names = sorted({b.strip().lower() for b in brands if b and b.strip()}, key=len, reverse=True)
        self.brands = names
        self._re = re.compile(r"(?<![\w])(" + "|".join(re.escape(b) for b in names) + r")(?![\w])") if names else None

    def find(self, text: str) -> list[str]:
        if self._re is None or not text:
            return []
        return list(dict.fromkeys(m.group(1) for m in self._re.finditer(text.lower())))


def query_brands(brands: Iterable[str], titles: Iterable[str]) -> list[str]:
    """Brands a query may name without ambiguity: at least three letters, and the
    titles that contain the phrase mostly start with it (name it as the brand),
    so "denim" or "basics" in a query stay words."""
    names = [b for b in brands if len(b) >= 3]
    m = BrandMatcher(names)
    contains: dict[str, int] = {}
    first: dict[str, int] = {}
    for t in titles:
        low = str(t).lower()
        for b in m.find(low):
            contains[b] = contains.get(b, 0) + 1
            first[b] = first.get(b, 0) + low.startswith(b)
    return [b for b in names if first.get(b, 0) >= 0.5 * contains.get(b, 0)]


def label_brands(brands: list[str], titles: list[str], min_products: int) -> list[str]:
    """Per product, its brand: the given one, else the "<Brand> <Gender>" prefix,
    else a brand seen that way at least `min_products` times that the title starts
    with ("Revlon Colorstay Scarlet Lip Liner" names no gender)."""
    out = [product_brand(b, t) for b, t in zip(brands, titles)]
    counts: dict[str, int] = {}
    for b in out:
        if b:
            counts[b] = counts.get(b, 0) + 1
    m = BrandMatcher([b for b, c in counts.items() if c >= min_products])
    for i, (b, t) in enumerate(zip(out, titles)):
        if not b:
            found = m.find(str(t))
            if found and str(t).lower().startswith(found[0]):
                out[i] = found[0]
    return out
