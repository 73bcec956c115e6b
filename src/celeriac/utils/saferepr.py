"""Celery's ``celery.utils.saferepr``: a bounded, never-failing :func:`repr`."""

from __future__ import annotations

import sys

from celeriac.protocol.saferepr import REPR_MAXLEVELS
from celeriac.protocol.saferepr import saferepr as _bounded

__all__ = ["saferepr"]


def saferepr(
    o: object, maxlen: int | None = None, maxlevels: int = REPR_MAXLEVELS, seen: object = None
) -> str:
    """``repr(o)`` cut to ``maxlen`` characters (None: no limit), containers deeper than
    ``maxlevels`` shown as ``...``; objects whose ``repr`` raises do not make it fail.

    ``seen`` is accepted for Celery's signature (recursion is bounded by ``maxlevels``).
    """
    return _bounded(o, sys.maxsize if maxlen is None else maxlen, maxlevels)
