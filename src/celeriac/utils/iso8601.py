"""Celery's ``celery.utils.iso8601``: parse ISO 8601 timestamps (over ``fromisoformat``)."""

from __future__ import annotations

import datetime as dt

__all__ = ["parse_iso8601"]


def parse_iso8601(datestring: str) -> dt.datetime:
    """The datetime an ISO 8601 string names (``Z`` and ``±hh:mm`` offsets kept).

    Raises:
        ValueError: the string is not an ISO 8601 date and time.
    """
    try:
        return dt.datetime.fromisoformat(datestring.strip())
    except (TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"unable to parse date string {datestring!r}") from exc
