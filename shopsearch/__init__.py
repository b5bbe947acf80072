"""Shopsearch: offline-first multimodal product search for online stores."""

__version__ = "0.1.0"
