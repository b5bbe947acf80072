"""Shopper events (views, clicks, add-to-cart, purchases): durable, erasable, local."""

from shopsearch.events.store import EVENT_TYPES, Event, EventStore

__all__ = ["EVENT_TYPES", "Event", "EventStore"]
