"""SlotTable: what a prefork child is running, in memory its parent can read without IPC."""

from __future__ import annotations

import json
import mmap
import struct
from typing import Any

__all__ = ["SlotTable"]

_SLOT = 512
_HEADER = struct.Struct("<BI")  # used flag, payload length


class SlotTable:
    """Fixed-size slots in an anonymous shared mapping, created before ``fork``.

    The child writes a small JSON record when a task starts and clears it when the
    task ends (a memory write, no syscall); the parent reads the records when the
    child dies (which tasks were really running) or to enforce hard time limits.
    """

    def __init__(self, count: int) -> None:
        self.count = max(1, count)
        self._map = mmap.mmap(-1, self.count * _SLOT)
        self._free = list(range(self.count - 1, -1, -1))

    def acquire(self, record: dict[str, Any]) -> int | None:
        """Child side: store a running task's record; return its slot (None when full)."""
        if not self._free:
            return None
        index = self._free.pop()
        data = json.dumps(record).encode()
        if len(data) > _SLOT - _HEADER.size:
            record = {**record, "name": str(record.get("name", ""))[:64]}
            data = json.dumps(record).encode()[: _SLOT - _HEADER.size]
        offset = index * _SLOT
        self._map[offset + _HEADER.size : offset + _HEADER.size + len(data)] = data
        _HEADER.pack_into(self._map, offset, 1, len(data))
        return index

    def release(self, index: int | None) -> None:
        """Child side: the task in this slot ended."""
        if index is None:
            return
        _HEADER.pack_into(self._map, index * _SLOT, 0, 0)
        self._free.append(index)

    def running(self) -> dict[str, dict[str, Any]]:
        """Parent side: the records of tasks running now, by task id."""
        found: dict[str, dict[str, Any]] = {}
        for index in range(self.count):
            offset = index * _SLOT
            used, length = _HEADER.unpack_from(self._map, offset)
            if not used:
                continue
            raw = self._map[offset + _HEADER.size : offset + _HEADER.size + length]
            try:
                record = json.loads(raw)
            except ValueError:  # being written right now: it will be read next time
                continue
            found[str(record.get("id"))] = record
        return found

    def close(self) -> None:
        """Unmap (parent side, once the child is gone)."""
        self._map.close()
