"""The byte budget of held messages (``worker_max_held_bytes``).

Prefetched messages and messages waiting for an ETA or a rate-limit slot stay in the
worker's memory. While their bodies add up to more than the budget the consumer fetches
nothing; letting one go below the budget wakes the fetch loop.
"""

from __future__ import annotations

from collections.abc import Callable

from celeriac.transports.base import Delivery

__all__ = ["HeldBudget", "body_size"]


def body_size(delivery: Delivery) -> int:
    """The bytes a delivery's body takes (its raw bytes when it did not decode)."""
    if delivery.message is not None:
        return len(delivery.message.body)
    return len(delivery.raw or b"")


class HeldBudget:
    """Counts the body bytes of held deliveries against ``max_bytes`` (0: unbounded).

    Args:
        max_bytes: the budget.
        on_room: called when a release brings the total back under the budget.
    """

    def __init__(self, max_bytes: int = 0, on_room: Callable[[], None] | None = None) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.on_room = on_room

    @property
    def full(self) -> bool:
        """Whether the held bodies take the whole budget (fetch nothing more)."""
        return bool(self.max_bytes) and self.bytes >= self.max_bytes

    def add(self, delivery: Delivery) -> None:
        """A delivery is now held."""
        self.bytes += body_size(delivery)

    def remove(self, delivery: Delivery) -> None:
        """A held delivery was let go; wake the fetch loop if that made room."""
        was_full = self.full
        self.bytes -= body_size(delivery)
        if was_full and not self.full and self.on_room is not None:
            self.on_room()

    def clear(self) -> None:
        """Nothing is held any more."""
        self.bytes = 0
