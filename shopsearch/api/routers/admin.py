"""The operator's writes: products (upsert, delete), merchandising rules and synonyms
(admin token or an admin key)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from fastapi import APIRouter, Depends, HTTPException

from shopsearch.api.deps import engine, product_position
from shopsearch.catalog.ingest import delete as delete_products, upsert_products
from shopsearch.query.synonyms import SynonymSet, delete_synonyms, list_synonyms, save_synonyms
from shopsearch.ranking.rules import Rule, delete_rule, list_rules, save_rule
from shopsearch.schema import Product
from shopsearch.settings import Settings


def photo_path(s: Settings, value: str) -> str:
    """A photo named by the admin API: a path under SHOPSEARCH_IMAGES_ROOT, never a URL."""
    if value.lower().startswith(("http://", "https://", "ftp://", "file:", "data:", "//")):
        raise ValueError("photo URLs are not fetched: copy the file under SHOPSEARCH_IMAGES_ROOT and give its path")
    if not s.images_root:
        raise ValueError("photos through the admin API need SHOPSEARCH_IMAGES_ROOT (the folder they may come from)")
    root = Path(s.images_root).resolve()
    try:
        full = (root / value).resolve()  # an absolute value replaces root, then must still lie under it
    except OSError as e:
        raise ValueError(f"photo path cannot be used ({e.strerror})") from None
    if not full.is_relative_to(root):
        raise ValueError(f"photo path {value!r} is outside SHOPSEARCH_IMAGES_ROOT")
    return str(full)


def router(s: Settings, admin: Callable) -> APIRouter:
    r = APIRouter()

    @r.post("/admin/products", dependencies=[Depends(admin)])
    def admin_upsert(products: list[Product], eng=Depends(engine)) -> dict:
        """Add or update products; a photo is a path under SHOPSEARCH_IMAGES_ROOT
        (relative paths resolve there; URLs are never fetched)."""
        if len(products) > 1000:
            raise HTTPException(413, "at most 1000 products in one request")
        errors: list[tuple[int, str]] = []
        ok: list[tuple[int, Product]] = []
        for n, p in enumerate(products, 1):
            try:
                ok.append((n, p.model_copy(update={"image": photo_path(s, p.image)}) if p.image else p))
            except ValueError as e:
                errors.append((n, f"product {p.id}: {e}"))
        if ok:
            for e in upsert_products(eng.index, eng.encoder, [p for _, p in ok], s):
                errors.append((ok[e.row - 1][0], e.message))
        return {"upserted": len(products) - len(errors), "errors": [f"row {n}: {m}" for n, m in sorted(errors)]}

    @r.delete("/admin/products/{product_id}", dependencies=[Depends(admin)])
    def admin_delete(product_id: str, eng=Depends(engine)) -> dict:
        product_position(eng, product_id)
        return {"deleted": delete_products(eng.index, [product_id])}

    @r.post("/admin/rules", dependencies=[Depends(admin)])
    def rule_put(rule: Rule, eng=Depends(engine)) -> dict:
        """Create or replace a merchandising rule; every serving process applies it within a second."""
        replaced = save_rule(eng.index, rule)
        return {"id": rule.id, "replaced": replaced}

    @r.get("/admin/rules", dependencies=[Depends(admin)])
    def rules_get(eng=Depends(engine)) -> list[Rule]:
        return list_rules(eng.index)

    @r.delete("/admin/rules/{rule_id}", dependencies=[Depends(admin)])
    def rule_delete(rule_id: str, eng=Depends(engine)) -> dict:
        if not delete_rule(eng.index, rule_id):
            raise HTTPException(404, f"no rule {rule_id!r}")
        return {"deleted": rule_id}

    @r.post("/admin/synonyms", dependencies=[Depends(admin)])
    def synonyms_put(s_: SynonymSet, eng=Depends(engine)) -> dict:
        """Create or replace a synonym set (multi-way, or one-way with an `input`)."""
        return {"id": s_.id, "replaced": save_synonyms(eng.index, s_)}

    @r.get("/admin/synonyms", dependencies=[Depends(admin)])
    def synonyms_get(eng=Depends(engine)) -> list[SynonymSet]:
        return list_synonyms(eng.index)

    @r.delete("/admin/synonyms/{set_id}", dependencies=[Depends(admin)])
    def synonyms_delete(set_id: str, eng=Depends(engine)) -> dict:
        if not delete_synonyms(eng.index, set_id):
            raise HTTPException(404, f"no synonym set {set_id!r}")
        return {"deleted": set_id}

    return r
