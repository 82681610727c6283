"""Where the relay delivers events: one sink, chosen by the scheme of `EVENTS_URL`.

Every sink delivers a batch in order and stops at the first event it cannot deliver: it
returns how many events, from the front of the batch, the broker acknowledged, or raises
`DeliveryError` carrying that count. The relay marks exactly those delivered, so nothing is
skipped and order per user holds across retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from todo_api.events.cloudevents import OutboundEvent


class DeliveryError(Exception):
    """The sink stopped after `delivered` events of the batch; `reason` says why."""

    def __init__(self, delivered: int, reason: str) -> None:
        super().__init__(reason)
        self.delivered = delivered
        self.reason = reason


class Sink(Protocol):
    """A broker or endpoint that takes events (see the module docstring)."""

    name: str

    async def start(self) -> None:
        """Connect (and create the stream or topics it needs). Raises when unreachable."""

    async def deliver(self, events: Sequence[OutboundEvent]) -> int:
        """Deliver `events` in order: how many were acknowledged (all of them), or
        `DeliveryError` with the count of those that were."""

    async def close(self) -> None:
        """Let go of connections (delivered events stay delivered)."""
