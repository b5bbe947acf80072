"""Catalogue in: reading CSV/JSONL, mapping columns to the engine's schema,
validating rows and photos, and the resumable ingest pipeline."""

from shopsearch.catalog.reader import ColumnMap, read_rows, row_to_product
from shopsearch.catalog.where import compile_where

__all__ = ["ColumnMap", "read_rows", "row_to_product", "compile_where"]
