"""A product's record and "more like this"."""

from __future__ import annotations

from typing import Callable

from fastapi import APIRouter, Depends

from shopsearch.api.deps import Gates, engine, product_position
from shopsearch.api.models import ApiResult


def router(gates: Gates, search_key: Callable) -> APIRouter:
    r = APIRouter()

    @r.get("/products/{product_id}", dependencies=[Depends(search_key)])
    def product(product_id: str, eng=Depends(engine)) -> dict:
        p = eng.index.product(product_position(eng, product_id))
        d = p.model_dump(exclude={"image"})
        d["image_url"] = f"/images/{p.id}" if p.image else None
        return d

    @r.get("/products/{product_id}/similar", response_model=ApiResult, dependencies=[Depends(search_key)])
    def similar(product_id: str, page_size: int = 20, page: int = 1, eng=Depends(engine)) -> ApiResult:
        product_position(eng, product_id)
        with gates.search:
            return ApiResult.of(eng.similar(product_id, page_size=min(max(page_size, 1), 200), page=max(page, 1)))

    return r
