"""Signatures and workflow primitives (Celery's ``celery.canvas``; chain and chord come later)."""

from celeriac.canvas.signature import Signature, group, maybe_signature, signature

__all__ = ["Signature", "group", "maybe_signature", "signature"]
