"""The ``rpc://`` result backend: results as messages to the caller's reply queue (AMQP)."""

from __future__ import annotations

from celeriac.backends.rpc.backend import E_NO_CHORD_SUPPORT, RPCBackend

__all__ = ["E_NO_CHORD_SUPPORT", "RPCBackend"]
