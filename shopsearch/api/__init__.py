"""HTTP API (FastAPI, OpenAPI at /docs) and the shopper's web page at /."""
