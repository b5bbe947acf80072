"""Search, one module per stage: plan -> retrieve -> fuse -> rerank -> facets -> page,
behind the `Engine` facade (engine.py). `context.SearchContext` holds what every stage
reads: the index, the encoder, the settings and what is derived per write generation."""
