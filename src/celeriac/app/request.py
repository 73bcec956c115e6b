"""The task request context (``self.request``): what a running task knows about its call."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Context"]


@dataclass(slots=True)
class Context:
    """The request of one task execution, read as ``self.request`` inside a bound task.

    Field names are Celery's (``id``, ``retries``, ``delivery_info``, ``root_id`` …).
    """

    id: str | None = None
    task: str | None = None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    eta: datetime | None = None
    expires: datetime | None = None
    is_eager: bool = False
    called_directly: bool = True
    hostname: str | None = None
    delivery_info: dict[str, Any] = field(default_factory=dict)
    root_id: str | None = None
    parent_id: str | None = None
    group: str | None = None
    group_index: int | None = None
    callbacks: list[dict[str, Any]] | None = None
    errbacks: list[dict[str, Any]] | None = None
    chain: list[dict[str, Any]] | None = None
    chord: dict[str, Any] | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    origin: str | None = None
    shadow: str | None = None
    timelimit: tuple[float | None, float | None] = (None, None)
    ignore_result: bool = False
    priority: int = 0
    headers: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    delivery_count: int = 1
    stamps: dict[str, Any] = field(default_factory=dict)

    @property
    def delivery_tag(self) -> str | None:
        """The broker's delivery tag of the message (None when called directly or eagerly)."""
        tag = self.properties.get("delivery_tag")
        return str(tag) if tag is not None else None

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style access, as Celery's Context allows."""
        return getattr(self, key, default)

    @property
    def group_id(self) -> str | None:
        """Alias of :attr:`group`."""
        return self.group
