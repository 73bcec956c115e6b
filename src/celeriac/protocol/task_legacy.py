"""Protocol 1 and "hybrid" task messages: read their dict bodies into protocol 2 fields.

Celery 3 (``task_protocol = 1``) put every field in a dict body; "hybrid" messages carry
protocol 2 headers with such a body (the headers win). Both are read-only here: celeriac
always sends protocol 2. :func:`read_dict_body` normalizes the body into the fields the
one decoder (:func:`celeriac.protocol.task_message.decode`) turns into a ``TaskMessage``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from celeriac.exceptions import InvalidTaskError

__all__ = ["LegacyFields", "read_dict_body"]


@dataclass(frozen=True, slots=True)
class LegacyFields:
    """A dict body read as protocol 2 fields.

    Attributes:
        fields: header-like fields (``id``, ``task``, ``eta``, ``retries`` …).
        args: the body's ``args`` (checked by the decoder).
        kwargs: the body's ``kwargs`` (checked by the decoder).
        embed: ``{callbacks, errbacks, chain, chord}`` from the body.
        protocol: 1 for a Celery 3 body, 2 for a hybrid message.
        utc: whether a naive ``eta``/``expires`` is UTC (protocol 1's ``utc`` flag).
    """

    fields: Mapping[str, object]
    args: object
    kwargs: object
    embed: dict[str, object]
    protocol: int
    utc: bool


def read_dict_body(headers: Mapping[str, object], body: Mapping[str, object]) -> LegacyFields:
    """Read protocol 1 (fields in the body) or hybrid (headers win over body fields).

    Raises:
        InvalidTaskError: neither the headers nor the body name a task.
    """
    fields: Mapping[str, object]
    if "task" in headers:
        fields = {**body, **headers}
        protocol = 2
    elif "task" in body:
        fields = body
        if fields.get("group") is None and fields.get("taskset") is not None:
            fields = {**body, "group": body["taskset"]}
        protocol = 1
    else:
        raise InvalidTaskError(
            "not a task message: no 'task' header, and the dict body has no 'task' key "
            f"(body keys: {sorted(body)})"
        )
    embed = {
        "callbacks": fields.get("callbacks"),
        "errbacks": fields.get("errbacks"),
        "chain": fields.get("chain"),
        "chord": fields.get("chord"),
    }
    # Protocol 1 says whether a naive eta/expires is UTC (utc=True) or the sender's local time.
    utc = fields.get("utc", True) is not False
    return LegacyFields(
        fields=fields,
        args=fields.get("args", []),
        kwargs=fields.get("kwargs", {}),
        embed=embed,
        protocol=protocol,
        utc=utc,
    )
