"""Signatures and workflow primitives (Celery's ``celery.canvas``)."""

from celeriac.canvas.chord import chord
from celeriac.canvas.primitives import chain, chunks, xmap, xstarmap
from celeriac.canvas.signature import Signature, group, maybe_signature, signature

__all__ = [
    "Signature",
    "chain",
    "chord",
    "chunks",
    "group",
    "maybe_signature",
    "signature",
    "xmap",
    "xstarmap",
]
