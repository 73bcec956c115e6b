"""SlotTable: what a prefork child is running, in memory its parent can read without IPC."""

from __future__ import annotations

import dataclasses
import mmap
import struct

from celeriac.pools.reports import RunningTask

__all__ = ["SlotTable"]

_SLOT = 512
_HEADER = struct.Struct("<BI")  # used flag, payload length


class SlotTable:
    """Fixed-size slots in an anonymous shared mapping, created before ``fork``.

    The child writes a small JSON record (a :class:`RunningTask`) when a task starts and
    clears it when the task ends (a memory write, no syscall); the parent reads the records when the
    child dies (which tasks were really running) or to enforce hard time limits.
    """

    def __init__(self, count: int) -> None:
        self.count = max(1, count)
        self._map = mmap.mmap(-1, self.count * _SLOT)
        self._free = list(range(self.count - 1, -1, -1))

    def acquire(self, record: RunningTask) -> int | None:
        """Child side: store a running task's record; return its slot (None when full)."""
        if not self._free:
            return None
        index = self._free.pop()
        data = record.to_json()
        if len(data) > _SLOT - _HEADER.size:  # stamps first, then the name's tail
            data = dataclasses.replace(record, name=record.name[:64], stamps=None).to_json()
            data = data[: _SLOT - _HEADER.size]
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

    def running(self) -> dict[str, RunningTask]:
        """Parent side: the records of tasks running now, by task id."""
        found: dict[str, RunningTask] = {}
        for index in range(self.count):
            offset = index * _SLOT
            used, length = _HEADER.unpack_from(self._map, offset)
            if not used:
                continue
            raw = self._map[offset + _HEADER.size : offset + _HEADER.size + length]
            try:
                record = RunningTask.from_json(raw)
            except ValueError:  # being written right now: it will be read next time
                continue
            found[record.id] = record
        return found

    def close(self) -> None:
        """Unmap (parent side, once the child is gone)."""
        self._map.close()
