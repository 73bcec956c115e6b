"""Serializers that can run code when they decode, and the warning when one is accepted."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from celeriac.protocol.serializers import accept_set

__all__ = ["INSECURE_CONTENT_TYPES", "insecure_accepted", "insecure_content_warning"]

#: Content types whose decoder can build arbitrary objects: pickle runs code by design;
#: full YAML can too (we decode YAML with ``safe_load``, but a Celery peer may not).
INSECURE_CONTENT_TYPES = frozenset(
    {"application/x-python-serialize", "application/x-yaml", "application/yaml"}
)
_NAMES = {
    "application/x-python-serialize": "pickle",
    "application/x-yaml": "yaml",
    "application/yaml": "yaml",
}


def insecure_accepted(accept: Collection[str] | None) -> list[str]:
    """The insecure serializers (by name) an ``accept_content`` list lets in."""
    if not accept:
        return []
    types = accept_set(accept)
    return sorted({_NAMES[t] for t in types if t in INSECURE_CONTENT_TYPES})


def insecure_content_warning(lists: Iterable[tuple[str, Collection[str] | None]]) -> str | None:
    """One warning line naming the settings that accept pickle or YAML, or None.

    Args:
        lists: ``(setting name, accepted serializers)`` pairs, e.g.
            ``[("accept_content", conf.accept_content)]``.
    """
    found = [
        f"{name} ({', '.join(names)})"
        for name, accept in lists
        if (names := insecure_accepted(accept))
    ]
    if not found:
        return None
    return (
        f"insecure serializers are accepted: {'; '.join(found)}: whoever can write to the "
        "broker or result backend can run code in this process; use json (or msgpack) "
        "unless every writer is trusted, and turn on message signing (docs/security.md)"
    )
