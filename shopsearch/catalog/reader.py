"""Reading catalogue files and mapping their columns to the engine's schema.

The fashion catalogue's and ESCI's column names are recognised without flags;
anything else is mapped with `--map field=column` or a JSON mapping file."""

from __future__ import annotations

import csv
import html
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


def _encoding(path: Path) -> str:
    """UTF-8 unless the file starts with a UTF-16 byte-order mark (Excel's "Unicode text")."""
    with path.open("rb") as f:
        head = f.read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return "utf-8-sig"


def _undecodable(row: dict) -> str | None:
    """The first column whose bytes were not valid text (read with surrogateescape)."""
    for k, v in row.items():
        for x in (k, v):
            if isinstance(x, str) and _SURROGATE.search(x):
                return str(k).encode("utf-8", "replace").decode()
    return None


_SURROGATE = re.compile("[\udc80-\udcff]")


def read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """(columns, iterator of (row number, raw row)). Row numbers count data rows from 1.

    A row the file format itself makes unreadable (bytes that are not UTF-8, a NUL,
    more or fewer fields than the header, a line that is not a JSON object) comes
    back as `{"__error__": reason}`: the caller reports it and goes on."""
    path = Path(path)
    if not path.exists():
        raise CatalogueError(f"catalogue {path} does not exist")
    if not path.is_file():
        raise CatalogueError(f"catalogue {path} is not a file")
    suffix = path.suffix.lower()
    enc = _encoding(path)
    if suffix in (".jsonl", ".ndjson", ".json"):
        columns: list[str] = []
        with path.open(encoding=enc, errors="surrogateescape") as f:
            for line in f:
                if line.strip():
                    try:
                        first = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise CatalogueError(f"{path}: first line is not JSON: {e}") from None
                    if isinstance(first, dict):
                        columns = list(first.keys())
                    break

        def gen() -> Iterator[tuple[int, dict]]:
            with path.open(encoding=enc, errors="surrogateescape") as f:
                n = 0
                for line in f:
                    if not line.strip():
                        continue
                    n += 1
                    if _SURROGATE.search(line):
                        yield n, {"__error__": "the line is not valid UTF-8 text (save the file as UTF-8)"}
                        continue
                    try:
                        obj = json.loads(line)
                    except (json.JSONDecodeError, RecursionError) as e:
                        yield n, {"__error__": f"not valid JSON ({getattr(e, 'msg', e)})"}
                        continue
                    if not isinstance(obj, dict):
                        yield n, {"__error__": "not a JSON object"}
                        continue
                    yield n, {str(k): ("" if v is None else v) for k, v in obj.items()}

        return columns, gen()
    if suffix in (".csv", ".tsv"):
        delim = "\t" if suffix == ".tsv" else ","
        try:
            with path.open(encoding=enc, errors="surrogateescape", newline="") as f:
                header = next(csv.reader(f, delimiter=delim), None)
        except csv.Error as e:
            raise CatalogueError(f"{path}: cannot read the header row: {e}") from None
        if not header:
            raise CatalogueError(f"{path}: empty file, no header row")
        if any(_SURROGATE.search(h) for h in header):
            raise CatalogueError(f"{path}: the header row is not valid UTF-8 text (save the file as UTF-8)")
        header = [h.strip() for h in header]

        def gen() -> Iterator[tuple[int, dict]]:
            with path.open(encoding=enc, errors="surrogateescape", newline="") as f:
                reader = csv.reader(f, delimiter=delim)
                next(reader, None)
                n = 0
                while True:
                    try:
                        fields = next(reader)
                    except StopIteration:
                        return
                    except csv.Error as e:  # a NUL byte, an unterminated quote at the end
                        n += 1
                        yield n, {"__error__": f"unreadable CSV line ({e})"}
                        continue
                    if not fields:
                        continue
                    n += 1
                    if len(fields) != len(header):
                        yield n, {"__error__": f"the row has {len(fields)} fields, the header has {len(header)} "
                                               "(a stray comma or quote, or a truncated line?)"}
                        continue
                    if any("\x00" in x for x in fields):
                        yield n, {"__error__": "the line holds a NUL byte (a binary file, or a broken export?)"}
                        continue
                    row = dict(zip(header, fields))
                    if (col := _undecodable(row)) is not None:
                        yield n, {"__error__": f"column {col!r} is not valid UTF-8 text (save the file as UTF-8)"}
                        continue
                    yield n, row

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


MAX_TITLE_CHARS = 1_000
MAX_FIELD_CHARS = 100_000  # a description; anything longer is a broken export, not a product
_TAG = re.compile(r"<(?:[a-zA-Z/!?][^<>]{0,2000})>")
# control characters, zero-width space, direction marks, BOM; not the zero-width
# (non-)joiners, which emoji sequences and Indic and Persian scripts need
_CTRL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200e\u200f\u2028\u2029\ufeff]")
_SPACE = re.compile(r"[ \t\r\f\v]+")


def clean_text(v, one_line: bool = False) -> str:
    """The words a shopper reads: markup tags and control characters out, entities
    decoded (`&amp;` -> `&`), runs of spaces collapsed. Emoji and every script stay."""
    t = html.unescape(_TAG.sub(" ", _text(v)))
    t = _CTRL.sub("", t)
    if one_line:
        t = " ".join(t.split())
    else:
        t = "\n".join(_SPACE.sub(" ", line).strip() for line in t.splitlines()).strip()
    return t


def photo_path(value: str, images_dir: Path) -> Path:
    """A catalogue's photo path on disk: relative paths resolve inside `images_dir`
    and may not climb out of it (`../../etc/passwd`); absolute paths are the
    operator's own and are kept."""
    p = Path(value)
    if p.is_absolute():
        return p
    try:
        root = images_dir.resolve()
        full = (images_dir / p).resolve()
    except OSError as e:  # e.g. a name longer than the file system allows
        raise ValueError(f"image path {value[:80]!r}... cannot be used ({e.strerror})") from None
    if not full.is_relative_to(root):
        raise ValueError(f"image path {value!r} points outside the images folder {images_dir}")
    return images_dir / p


def row_to_product(row: dict, cmap: ColumnMap, images_dir: Path) -> tuple[Product, list[str]]:
    """Map one raw row; returns the product and all its photo paths (best first).

    Raises ValueError with a human message for a bad row."""
    f = cmap.fields
    pid = clean_text(row.get(f["id"], ""), one_line=True)
    title = clean_text(row.get(f["title"], ""), one_line=True)
    if not pid:
        raise ValueError("missing id")
    if len(pid) > 200 or "/" in pid or "\\" in pid:
        raise ValueError(f"id {pid[:40]!r}: ids are at most 200 characters, without slashes")
    if not title:
        raise ValueError(f"product {pid}: missing title")
    if len(title) > MAX_TITLE_CHARS:
        raise ValueError(f"product {pid}: the title is {len(title):,} characters, more than {MAX_TITLE_CHARS:,}")
    desc_parts = [clean_text(row.get(f["description"], ""))] if "description" in f else []
    desc_parts += [clean_text(row.get(c, "")) for c in cmap.description_extra]
    if sum(map(len, desc_parts)) > MAX_FIELD_CHARS:
        raise ValueError(f"product {pid}: the description is more than {MAX_FIELD_CHARS:,} characters")
    for name in ("type", "colour", "gender", "brand"):
        if name in f and len(_text(row.get(f[name], ""))) > MAX_TITLE_CHARS:
            raise ValueError(f"product {pid}: the {name} is more than {MAX_TITLE_CHARS:,} characters")
    ptype = clean_text(row.get(f["type"], ""), one_line=True) if "type" in f else ""
    if ">" in ptype:  # hierarchical category: the leaf is the type
        ptype = ptype.split(">")[-1].strip()
    price = parse_price(row.get(f["price"])) if "price" in f else None
    if price is not None and not (0 <= price <= 1e9):  # NaN fails this too
        raise ValueError(f"product {pid}: absurd price {price}")
    photos: list[str] = []
    for col in cmap.images:
        v = _text(row.get(col, ""))
        if not v or v.lower().startswith(("http://", "https://", "data:")):
            continue  # URLs are never fetched
        photos.append(str(photo_path(v, images_dir)))
    attrs = {c: clean_text(row[c], one_line=True)[:MAX_TITLE_CHARS] for c in cmap.extra
             if c in row and _text(row[c]) and not c.startswith("__")}
    product = Product(
        id=pid, title=title, description="\n".join(p for p in desc_parts if p), type=ptype,
        colour=clean_text(row.get(f["colour"], ""), one_line=True) if "colour" in f else "",
        gender=clean_text(row.get(f["gender"], ""), one_line=True) if "gender" in f else "",
        brand=clean_text(row.get(f["brand"], ""), one_line=True) if "brand" in f else "",
        price=price, image=photos[0] if photos else None, attrs=attrs,
    )
    return product, photos
