"""Reading catalogue files and mapping their columns to the engine's schema.

The fashion catalogue's and ESCI's column names are recognised without flags;
anything else is mapped with `--map field=column` or a JSON mapping file."""

from __future__ import annotations

import csv
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from shopsearch.schema import Product

csv.field_size_limit(sys.maxsize)

# engine field -> catalogue column names, first match wins
ALIASES: dict[str, list[str]] = {
    "id": ["id", "product_id", "sku", "item_id", "productid", "asin"],
    "title": ["title", "productDisplayName", "name", "product_name", "product_title"],
    "description": ["description", "product_description", "bullet_points", "details"],
    "type": ["type", "articleType", "product_type", "category", "subcategory"],
    "colour": ["colour", "color", "baseColour", "baseColor", "product_color"],
    "gender": ["gender", "sex", "department"],
    "brand": ["brand", "product_brand", "manufacturer"],
    "price": ["price", "sale_price", "list_price"],
    "image": ["image_hr", "image", "image_path", "image_file", "photo", "picture", "image_60x80"],
}
# Columns joined into the description when present (ESCI keeps detail in bullets).
DESCRIPTION_EXTRA = ["bullet_points"]
IMAGE_COLUMNS = {"image_hr", "image", "image_path", "image_file", "photo", "picture", "image_60x80", "image_url"}


class CatalogueError(ValueError):
    """The catalogue file itself cannot be read (not a bad row)."""


@dataclass
class ColumnMap:
    """Resolved mapping of engine fields to the columns of one catalogue."""

    fields: dict[str, str]
    images: list[str]  # image columns in preference order
    extra: list[str]  # other columns kept as filterable attributes
    description_extra: list[str] = field(default_factory=list)

    @classmethod
    def resolve(cls, columns: list[str], overrides: dict[str, str] | None = None) -> "ColumnMap":
        overrides = dict(overrides or {})
        lower = {c.lower(): c for c in columns}
        fields: dict[str, str] = {}
        for name, candidates in ALIASES.items():
            if name in overrides:
                col = overrides[name]
                if col not in columns:
                    raise CatalogueError(f"mapping {name}={col}: no column {col!r} (columns: {', '.join(columns)})")
                fields[name] = col
                continue
            for c in candidates:
                if c.lower() in lower and name != "image":
                    fields[name] = lower[c.lower()]
                    break
        images = [overrides["image"]] if "image" in overrides else [lower[c.lower()] for c in ALIASES["image"] if c.lower() in lower]
        used = set(fields.values()) | set(images) | IMAGE_COLUMNS
        desc_extra = [c for c in DESCRIPTION_EXTRA if c in columns and c != fields.get("description")]
        used |= set(desc_extra)
        extra = [c for c in columns if c not in used]
        if "id" not in fields or "title" not in fields:
            missing = [f for f in ("id", "title") if f not in fields]
            raise CatalogueError(
                f"cannot find the {' and '.join(missing)} column(s) among: {', '.join(columns)}; "
                "map them with --map id=COLUMN,title=COLUMN"
            )
        return cls(fields, images, extra, desc_extra)


def parse_mapping(spec: str | None) -> dict[str, str]:
    """`title=name,type=kind` or a path to a JSON object file."""
    if not spec:
        return {}
    p = Path(spec)
    if p.suffix == ".json" and p.exists():
        return {str(k): str(v) for k, v in json.loads(p.read_text()).items()}
    out = {}
    for part in spec.split(","):
        if "=" not in part:
            raise CatalogueError(f"--map: expected field=column, got {part!r}")
        k, v = part.split("=", 1)
        if k.strip() not in ALIASES:
            raise CatalogueError(f"--map: unknown field {k.strip()!r} (fields: {', '.join(ALIASES)})")
        out[k.strip()] = v.strip()
    return out


def read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """(columns, iterator of (row number, raw row)). Row numbers count data rows from 1."""
    path = Path(path)
    if not path.exists():
        raise CatalogueError(f"catalogue {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        with path.open(encoding="utf-8") as f:
            first = ""
            for line in f:
                if line.strip():
                    first = line
                    break
        try:
            columns = list(json.loads(first).keys()) if first else []
        except json.JSONDecodeError as e:
            raise CatalogueError(f"{path}: first line is not JSON: {e}") from None

        def gen() -> Iterator[tuple[int, dict]]:
            with path.open(encoding="utf-8") as f:
                n = 0
                for line in f:
                    if not line.strip():
                        continue
                    n += 1
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as e:
                        yield n, {"__error__": f"not valid JSON ({e.msg})"}
                        continue
                    if not isinstance(obj, dict):
                        yield n, {"__error__": "not a JSON object"}
                        continue
                    yield n, {k: ("" if v is None else v) for k, v in obj.items()}

        return columns, gen()
    if suffix in (".csv", ".tsv"):
        delim = "\t" if suffix == ".tsv" else ","
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f, delimiter=delim), None)
        if not header:
            raise CatalogueError(f"{path}: empty file, no header row")

        def gen() -> Iterator[tuple[int, dict]]:
            with path.open(encoding="utf-8-sig", newline="") as f:
                for n, row in enumerate(csv.DictReader(f, delimiter=delim), start=1):
                    yield n, {k: (v if v is not None else "") for k, v in row.items() if k is not None}

        return header, gen()
    raise CatalogueError(f"{path}: unsupported catalogue format {suffix!r} (use .csv, .tsv or .jsonl)")


_PRICE = re.compile(r"-?\d+(?:[.,]\d+)?")


def parse_price(value) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    m = _PRICE.search(str(value).replace(",", ""))
    if not m:
        raise ValueError(f"price {value!r} is not a number")
    return float(m.group(0))


def _text(v) -> str:
    if isinstance(v, list):
        return "\n".join(str(x) for x in v)
    return str(v).strip()


def row_to_product(row: dict, cmap: ColumnMap, images_dir: Path) -> tuple[Product, list[str]]:
    """Map one raw row; returns the product and all its photo paths (best first).

    Raises ValueError with a human message for a bad row."""
    f = cmap.fields
    pid = _text(row.get(f["id"], ""))
    title = _text(row.get(f["title"], ""))
    if not pid:
        raise ValueError("missing id")
    if not title:
        raise ValueError(f"product {pid}: missing title")
    desc_parts = [_text(row.get(f["description"], ""))] if "description" in f else []
    desc_parts += [_text(row.get(c, "")) for c in cmap.description_extra]
    ptype = _text(row.get(f["type"], "")) if "type" in f else ""
    if ">" in ptype:  # hierarchical category: the leaf is the type
        ptype = ptype.split(">")[-1].strip()
    price = parse_price(row.get(f["price"])) if "price" in f else None
    if price is not None and (price < 0 or price > 1e9):
        raise ValueError(f"product {pid}: absurd price {price}")
    photos: list[str] = []
    for col in cmap.images:
        v = _text(row.get(col, ""))
        if not v or v.lower().startswith(("http://", "https://", "data:")):
            continue  # URLs are never fetched
        p = Path(v)
        photos.append(str(p if p.is_absolute() else (images_dir / p)))
    attrs = {c: _text(row[c]) for c in cmap.extra if c in row and _text(row[c]) and not c.startswith("__")}
    product = Product(
        id=pid, title=title, description="\n".join(p for p in desc_parts if p), type=ptype,
        colour=_text(row.get(f["colour"], "")) if "colour" in f else "",
        gender=_text(row.get(f["gender"], "")) if "gender" in f else "",
        brand=_text(row.get(f["brand"], "")) if "brand" in f else "",
        price=price, image=photos[0] if photos else None, attrs=attrs,
    )
    return product, photos
