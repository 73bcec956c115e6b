"""RateTable: run-time rate-limit changes from a prefork parent to its children (shared memory)."""

from __future__ import annotations

import json
import mmap
import struct
from typing import Any

__all__ = ["RateTable"]

_SIZE = 64 * 1024
_HEADER = struct.Struct("<QI")  # version (odd while being written), payload length


class RateTable:
    """The rate limits changed at run time (``{task name: rate or None}``), as one JSON map.

    Created by the parent before it forks, so every child (and every child started
    later) maps the same memory. Only the parent writes (a sequence lock: the version
    is odd while it writes); a child polls :meth:`changes`, a few memory reads when
    nothing changed.
    """

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, _SIZE)
        self._seen = 0

    def write(self, rates: dict[str, Any]) -> None:
        """Parent side: publish the whole map of changed rates.

        Raises:
            ValueError: the map does not fit in the table.
        """
        data = json.dumps(rates).encode()
        if len(data) > _SIZE - _HEADER.size:
            raise ValueError(f"too many rate limit changes to share ({len(data)} bytes)")
        version, _ = _HEADER.unpack_from(self._map, 0)
        _HEADER.pack_into(self._map, 0, version + 1, 0)
        self._map[_HEADER.size : _HEADER.size + len(data)] = data
        _HEADER.pack_into(self._map, 0, version + 2, len(data))

    def changes(self) -> dict[str, Any] | None:
        """Child side: the map when it changed since the last call, else None."""
        version, length = _HEADER.unpack_from(self._map, 0)
        if version == self._seen or version % 2:
            return None
        raw = self._map[_HEADER.size : _HEADER.size + length]
        if _HEADER.unpack_from(self._map, 0)[0] != version:
            return None  # written meanwhile: read it next time
        try:
            rates = json.loads(raw) if raw else {}
        except ValueError:
            return None
        self._seen = version
        return dict(rates)

    def close(self) -> None:
        """Unmap."""
        self._map.close()
