"""A dirty catalogue, generated: every kind of broken row and photo a real export
has shown us, next to good rows with awkward but valid content. Each row says
whether it must be indexed (good) or reported (bad), so a test can check both."""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

HEADER = ["id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year", "usage",
          "productDisplayName", "image_hr"]


@dataclass
class Dirty:
    path: Path
    images: Path
    good: list[str] = field(default_factory=list)  # ids that must be indexed
    bad_rows: dict[int, str] = field(default_factory=dict)  # row number -> what is wrong
    with_photo: list[str] = field(default_factory=list)  # good ids whose photo must be embedded


def _photos(images: Path, data_dir: Path, real: list[dict]) -> dict[str, str]:
    """Awkward but valid photos, and broken ones, written under `images`."""
    images.mkdir(parents=True, exist_ok=True)
    src = Image.open(data_dir / real[0]["image_hr"]).convert("RGB")
    out: dict[str, str] = {}

    def save(name: str, img: Image.Image, **kw) -> None:
        img.save(images / name, **kw)
        out[name] = name

    save("cmyk.jpg", src.convert("CMYK"), format="JPEG")
    save("palette.png", src.convert("P", palette=Image.ADAPTIVE, colors=32))
    save("grey.png", src.convert("L"))
    save("rgba.png", src.convert("RGBA"))
    arr16 = (np.asarray(src.convert("L"), dtype=np.uint16) * 257)
    save("sixteen.png", Image.fromarray(arr16))
    frames = [src, src.rotate(90), src.transpose(Image.FLIP_LEFT_RIGHT)]
    frames[0].save(images / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out["animated.gif"] = "animated.gif"
    save("png-named.jpg", src, format="PNG")  # right bytes, wrong extension: fine
    save("webp.webp", src, format="WEBP")
    # broken ones
    (images / "zero.jpg").write_bytes(b"")
    buf = io.BytesIO()
    src.save(buf, format="JPEG", quality=95)
    (images / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    (images / "text.jpg").write_text("<html>not a photo</html>")
    (images / "random.png").write_bytes(random.Random(1).randbytes(5000))
    Image.new("1", (20000, 20000)).save(images / "bomb.png", optimize=False)  # 400 Mpx in a few KB
    Image.new("RGB", (3, 3), "red").save(images / "speck.png")
    shutil.copy(data_dir / real[1]["image_hr"], images / "real.jpg")
    return out


def make_dirty(folder: Path, data_dir: Path, real: list[dict], url_port: int = 9) -> Dirty:
    """Write `folder/dirty.csv` and its photos; `real` are fashion rows to start from;
    one row's photo is a URL on loopback `url_port` (which must never be fetched)."""
    folder.mkdir(parents=True, exist_ok=True)
    images = folder / "images"
    _photos(images, data_dir, real)
    d = Dirty(folder / "dirty.csv", images)
    lines: list[bytes] = []
    n = 0

    def row(values: dict, good: bool, why: str = "", photo: bool = False, raw: bytes | None = None) -> None:
        nonlocal n
        n += 1
        if raw is None:
            buf = io.StringIO()
            csv.writer(buf).writerow([values.get(h, "") for h in HEADER])
            raw = buf.getvalue().encode("utf-8")
        lines.append(raw)
        if good:
            d.good.append(values["id"])
            if photo:
                d.with_photo.append(values["id"])
        else:
            d.bad_rows[n] = why

    base = {h: real[0].get(h, "") for h in HEADER}
    i = iter(range(800_000, 900_000))

    def g(**kw) -> dict:
        return {**base, "id": str(next(i)), **kw}

    # -- good rows: awkward but valid ------------------------------------------------
    for r in real[2:12]:  # ordinary real products with their real photos
        row({h: r.get(h, "") for h in HEADER} | {"image_hr": str(data_dir / r["image_hr"])}, True, photo=True)
    row(g(productDisplayName="<b>Blue</b> &amp; White <script>alert(1)</script> Shirt", image_hr="real.jpg"), True, photo=True)
    row(g(productDisplayName="🔥 Red Party Dress 👗✨", image_hr="real.jpg"), True, photo=True)
    row(g(productDisplayName="Family 👨\u200d👩\u200d👧 Tee\u200b", image_hr="real.jpg"), True, photo=True)
    row(g(productDisplayName="女士红色连衣裙", image_hr="real.jpg"), True, photo=True)
    row(g(productDisplayName="Ünïcödé Çafé Jacket — “smart” ’quotes’", image_hr="real.jpg"), True, photo=True)
    row(g(productDisplayName="Plain Shirt", articleType="", baseColour="", gender="", usage="", image_hr=""), True)
    row(g(productDisplayName="Shirt with a\nline break and\ttab", image_hr="real.jpg"), True, photo=True)
    row(g(productDisplayName="Remote Photo Shirt", image_hr=f"http://127.0.0.1:{url_port}/x.jpg"), True)  # never fetched
    for name in ("cmyk.jpg", "palette.png", "grey.png", "rgba.png", "sixteen.png", "animated.gif", "png-named.jpg",
                 "webp.webp"):
        row(g(productDisplayName=f"Photo {name}", image_hr=name), True, photo=True)
    row(g(productDisplayName="Long " + "description " * 50, image_hr="real.jpg"), True, photo=True)
    # -- bad rows ----------------------------------------------------------------------
    row(g(id=""), False, "missing id")
    row(g(productDisplayName=""), False, "missing title")
    row(g(productDisplayName="   "), False, "missing title (blank)")
    row(dict(base, id=d.good[0], productDisplayName="Duplicate"), False, "duplicate id")
    row(g(productDisplayName="x" * 200_000), False, "huge title")
    row(g(image_hr="no-such-photo.jpg"), False, "missing photo")
    row(g(image_hr="zero.jpg"), False, "zero-byte photo")
    row(g(image_hr="truncated.jpg"), False, "truncated photo")
    row(g(image_hr="text.jpg"), False, "fake extension: text named .jpg")
    row(g(image_hr="random.png"), False, "random bytes")
    row(g(image_hr="bomb.png"), False, "decompression bomb")
    row(g(image_hr="speck.png"), False, "3x3 photo")
    row(g(image_hr="../../../../etc/passwd"), False, "path traversal")
    row(g(image_hr="images"), False, "a folder, not a file")
    row(g(image_hr="é" * 300 + ".jpg"), False, "a file name longer than the file system allows")
    vals = g()
    row(vals, False, "extra columns", raw=(",".join(vals[h] for h in HEADER) + ",extra,more\r\n").encode())
    vals = g()
    row(vals, False, "missing columns", raw=(",".join(vals[h] for h in HEADER[:5]) + "\r\n").encode())
    vals = g(productDisplayName="Caf\xe9 Shirt")
    row(vals, False, "latin-1 bytes", raw=(",".join(vals[h] for h in HEADER) + "\r\n").encode("latin-1"))
    vals = g(productDisplayName="Nul\x00Shirt")
    row(vals, False, "NUL byte", raw=(",".join(vals[h] for h in HEADER) + "\r\n").encode())
    # a good row after the damage: the reader must have recovered
    row(g(productDisplayName="Recovered Green Shirt", image_hr="real.jpg"), True, photo=True)
    d.path.write_bytes(",".join(HEADER).encode() + b"\r\n" + b"".join(lines))
    return d


def make_dirty_jsonl(folder: Path, data_dir: Path, real: list[dict]) -> Dirty:
    """The same idea for JSON Lines: broken lines between good ones."""
    folder.mkdir(parents=True, exist_ok=True)
    d = Dirty(folder / "dirty.jsonl", data_dir)
    lines: list[bytes] = []
    for k, r in enumerate(real[:4]):
        obj = {"id": f"j{k}", "title": r["productDisplayName"], "type": r["articleType"], "image": r["image_hr"],
               "price": k + 9.5, "tags": ["a", "b"], "extra": {"nested": True}}
        lines.append(json.dumps(obj, ensure_ascii=False).encode())
        d.good.append(obj["id"])
        d.with_photo.append(obj["id"])
    bad = [b'{"id": "b1", "title": "unterminated', b'["not", "an", "object"]', b'{"id": "b2", "title": "Caf\xe9"}',
           b'{"id": "b3", "title": "Price NaN", "price": NaN}', b'{"id": "b4", "title": "neg", "price": -5}',
           b'{"id": "b5", "title": "inf", "price": Infinity}', b"[" * 100_000, b'{"id": "b6"}',
           b'{"id": "../../etc", "title": "slashy id"}']
    for b in bad:
        lines.append(b)
        d.bad_rows[len(lines)] = b[:30].decode("latin-1")
    lines.append(json.dumps({"id": "j-last", "title": "Recovered Shirt", "image": real[5]["image_hr"]}).encode())
    d.good.append("j-last")
    d.with_photo.append("j-last")
    d.path.write_bytes(b"\n".join(lines) + b"\n")
    return d
