"""The in-process broker (``memory://``): tests, eager mode and in-process workers.

``broker.py`` is the state one process shares per broker name, ``transport.py`` the work
queue on it, ``fanout.py`` broadcast and reply queues, ``lock.py`` beat's leader lock.
"""

from celeriac.transports.memory.transport import MemoryTransport

__all__ = ["MemoryTransport"]
