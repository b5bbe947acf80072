"""Turning several retrievers' candidates into one ranking: fusion (RRF or
weighted), attribute boosts and penalties."""

from shopsearch.ranking.fusion import fuse

__all__ = ["fuse"]
