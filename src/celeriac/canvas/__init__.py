"""Signatures and workflow primitives (Celery's ``celery.canvas``)."""

from celeriac.canvas.chord import chord
from celeriac.canvas.primitives import chain, chunks, xmap, xstarmap
from celeriac.canvas.signature import Signature, group, maybe_signature, signature
from celeriac.canvas.stamping import StampingVisitor

#: Celery's name of the chain class (``celery.canvas._chain``).
_chain = chain

__all__ = [
    "Signature",
    "StampingVisitor",
    "chain",
    "chord",
    "chunks",
    "group",
    "maybe_signature",
    "signature",
    "xmap",
    "xstarmap",
]
