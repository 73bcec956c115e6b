"""Result meta: Celery's stored result dict, exception encoding and result tuples."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Collection, Iterable, Mapping
from functools import lru_cache
from typing import Any

from celeriac import exceptions as _celeriac_exceptions
from celeriac.exceptions import DecodeError
from celeriac.protocol.serializers import json_dumps

__all__ = [
    "EXCEPTION_STATES",
    "FAILURE",
    "PENDING",
    "PROPAGATE_STATES",
    "READY_STATES",
    "RECEIVED",
    "REJECTED",
    "RETRY",
    "REVOKED",
    "STARTED",
    "SUCCESS",
    "UNREADY_STATES",
    "build_meta",
    "decode_exception",
    "encode_exception",
    "group_tuple",
    "meta_value",
    "parse_date_done",
    "result_tuple",
]

_UTC = dt.UTC

# State names (celeriac.states has the same values; protocol may not import it).
PENDING = "PENDING"
RECEIVED = "RECEIVED"
STARTED = "STARTED"
SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
REVOKED = "REVOKED"
REJECTED = "REJECTED"
RETRY = "RETRY"
READY_STATES = frozenset({SUCCESS, FAILURE, REVOKED})
UNREADY_STATES = frozenset({PENDING, RECEIVED, STARTED, REJECTED, RETRY})
#: States whose ``result`` is an encoded exception.
EXCEPTION_STATES = frozenset({RETRY, FAILURE, REVOKED})
#: States whose exception ``AsyncResult.get()`` re-raises.
PROPAGATE_STATES = frozenset({FAILURE, REVOKED})

#: Keys ``result_extended`` adds, in Celery's order.
_EXTENDED_KEYS = ("name", "args", "kwargs", "worker", "retries", "queue")

# celeriac's exceptions carry Celery's names and travel under Celery's module, so a Celery
# client rebuilds its own class and a celeriac client gets celeriac's.
_OUR_MODULE = _celeriac_exceptions.__name__
_CELERY_MODULE = "celery.exceptions"


# --------------------------------------------------------------------------- exceptions


def _json_safe(value: Any) -> Any:
    """Return ``value`` if kombu's JSON can encode it, else its repr (as Celery does)."""
    try:
        json_dumps(value)
    except Exception:
        try:
            return repr(value)
        except Exception:
            return f"<unrepresentable {type(value).__qualname__}>"
    return value


def encode_exception(exc: BaseException) -> dict[str, Any]:
    """Encode an exception as Celery stores it with a JSON result serializer.

    Returns:
        ``{"exc_type": qualname, "exc_message": [args...], "exc_module": module}``, where
        arguments JSON cannot encode are replaced by their repr. celeriac's own exceptions
        are written under ``celery.exceptions`` (their Celery names), so Celery clients
        rebuild them as Celery's classes.
    """
    cls = type(exc)
    module = cls.__module__
    if module == _OUR_MODULE:
        module = _CELERY_MODULE
    return {
        "exc_type": getattr(cls, "__qualname__", cls.__name__),
        "exc_message": [_json_safe(arg) for arg in exc.args],
        "exc_module": module,
    }


def _stand_in_str(self: BaseException) -> str:
    cls = type(self)
    origin = f"{getattr(cls, 'exc_module', cls.__module__)}.{cls.__qualname__}"
    text = Exception.__str__(self)
    return f"{origin}: {text}" if text else origin


def _safe_name(text: str) -> str:
    """A name usable for a class: no NUL, at most 200 characters (a result is untrusted)."""
    return text.replace("\x00", "\\x00")[:200]


@lru_cache(maxsize=256)
def _stand_in(module: str, qualname: str) -> type[Exception]:
    """Make (once per name) an Exception subclass standing in for a class we cannot load."""
    module, qualname = _safe_name(module), _safe_name(qualname)
    namespace: dict[str, Any] = {
        "__module__": module,
        "__qualname__": qualname,
        "__doc__": f"Stand-in for {module}.{qualname}, which is not importable here.",
        "__str__": _stand_in_str,
        "exc_module": module,
        "exc_type": qualname,
        "is_stand_in": True,
    }
    return type(qualname.rpartition(".")[2] or "UnknownError", (Exception,), namespace)


#: Modules whose exception classes a client always rebuilds (when already imported).
_ALWAYS_ALLOWED = frozenset({"builtins", _OUR_MODULE, _CELERY_MODULE})


def _module_allowed(module: str, allowed: Collection[str] | None) -> bool:
    """Whether ``module`` may supply a re-raised class: always ``builtins`` and the
    exceptions modules; otherwise any module when ``allowed`` is None, else only the
    modules listed there (an entry ``pkg`` also allows ``pkg.sub``)."""
    if module in _ALWAYS_ALLOWED or allowed is None:
        return True
    return any(module == entry or module.startswith(entry + ".") for entry in allowed)


def _find_class(
    module: str | None, qualname: str, allowed: Collection[str] | None = None
) -> type[BaseException] | None:
    """Find an already-imported exception class by module and dotted qualname.

    Only namespaces' own ``__dict__`` are read (never ``getattr``), so a module-level
    ``__getattr__`` (lazy imports) or a descriptor never runs because a result names it,
    and nothing is imported: a module not in ``sys.modules`` gives None.
    """
    if module is None or not _module_allowed(module, allowed):
        return None
    if module == _CELERY_MODULE:
        namespace: Any = _celeriac_exceptions
    else:
        namespace = sys.modules.get(module)
    found: Any = namespace
    for part in qualname.split("."):
        try:
            members = object.__getattribute__(found, "__dict__")
        except AttributeError:
            return None
        found = members.get(part) if isinstance(members, Mapping) else None
        if found is None:
            return None
    if isinstance(found, type) and issubclass(found, BaseException):
        return found
    return None


def decode_exception(data: Any, allowed: Collection[str] | None = None) -> BaseException:
    """Rebuild an exception from Celery's ``{exc_type, exc_message, exc_module}`` dict.

    Results are data, never code: the class is looked up among modules already imported
    (``sys.modules``; nothing is imported, no module ``__getattr__`` runs), walking a
    dotted ``exc_type``; ``celery.exceptions`` names resolve to celeriac's exceptions.
    ``allowed`` (``result_exception_modules``) narrows the modules a class may come from
    (``builtins`` and the exceptions modules always qualify); None allows any imported one.
    Anything that is not an exception class, or cannot be found or instantiated, becomes
    a stand-in ``Exception`` subclass with the original name and module, whose ``str()``
    starts with ``module.type``. ``exc_message`` may be a list (``cls(*args)``) or an
    old plain string (``cls(message)``).

    Raises:
        DecodeError: ``data`` is not an exception dict (or has no ``exc_type``).
    """
    if isinstance(data, BaseException):
        return data
    if not isinstance(data, Mapping):
        raise DecodeError(f"stored exception must be a dict, got {type(data).__name__}: {data!r}")
    qualname = data.get("exc_type")
    if not isinstance(qualname, str) or not qualname:
        raise DecodeError(f"stored exception has no 'exc_type': {dict(data)!r}")
    module = data.get("exc_module")
    module = module if isinstance(module, str) and module else None
    message = data.get("exc_message", "")
    args = tuple(message) if isinstance(message, list | tuple) else (message,)
    cls = _find_class(module, qualname, allowed)
    if cls is not None:
        try:
            return cls(*args)
        except Exception:
            pass
    return _stand_in(module or _CELERY_MODULE, qualname)(*args)


# --------------------------------------------------------------------------- meta


def _iso_date(value: dt.datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=_UTC).isoformat()
    return value.astimezone(_UTC).isoformat()


def build_meta(
    task_id: str,
    status: str,
    result: Any,
    *,
    traceback: str | None = None,
    children: list[Any] | None = None,
    date_done: dt.datetime | str | None = None,
    group_id: str | None = None,
    parent_id: str | None = None,
    extended: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the result meta dict in Celery's key order (WIRE-PROTOCOL.md §4.2).

    Args:
        task_id: the task id (written last, as Celery does).
        status: the state name (``SUCCESS``, ``FAILURE``, … or a custom state).
        result: the return value; an exception is encoded with :func:`encode_exception`.
        traceback: the formatted traceback (FAILURE/RETRY), else None.
        children: child result tuples (:func:`result_tuple`, :func:`group_tuple`). Celery
            writes ``[]`` when there are none; None is written as null (as ``revoke`` does).
        date_done: when a ready state was reached (aware; naive means UTC), written as ISO
            in UTC with ``+00:00``; None for non-ready states. A string is written as is.
        group_id: the task's group id; omitted when empty.
        parent_id: the task's parent id; omitted when empty.
        extended: ``result_extended`` fields: ``name``, ``args``, ``kwargs``, ``worker``,
            ``retries``, ``queue`` (always written, null when missing), then any other keys
            (``stamped_headers`` and stamps) in the given order.
    """
    meta: dict[str, Any] = {
        "status": status,
        "result": encode_exception(result) if isinstance(result, BaseException) else result,
        "traceback": traceback,
        "children": children,
        "date_done": _iso_date(date_done),
    }
    if group_id:
        meta["group_id"] = group_id
    if parent_id:
        meta["parent_id"] = parent_id
    if extended is not None:
        for key in _EXTENDED_KEYS:
            meta[key] = extended.get(key)
        for key, value in extended.items():
            if key not in meta:
                meta[key] = value
    meta["task_id"] = task_id
    return meta


def meta_value(meta: Mapping[str, Any], allowed: Collection[str] | None = None) -> Any:
    """Return the meta's result, rebuilding the exception for FAILURE, RETRY and REVOKED
    (``allowed``: see :func:`decode_exception`).

    Raises:
        DecodeError: an exception state holds something that is not an exception dict.
    """
    value = meta.get("result")
    status = meta.get("status")
    if isinstance(status, str) and status in EXCEPTION_STATES and value is not None:
        return decode_exception(value, allowed)
    return value


def parse_date_done(value: Any) -> dt.datetime | None:
    """Parse a ``date_done``: ISO with an offset (Celery 5.4+) or naive UTC (Celery ≤ 5.3).

    Returns:
        An aware datetime, or None when ``value`` is None/empty.

    Raises:
        DecodeError: the value is not an ISO 8601 datetime.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise DecodeError(f"date_done is not an ISO 8601 datetime: {value!r}")
    else:
        raise DecodeError(f"date_done must be an ISO 8601 string, got {value!r}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)


# --------------------------------------------------------------------------- tuples


def result_tuple(task_id: str, parent: list[Any] | None = None) -> list[Any]:
    """Celery's ``AsyncResult.as_tuple()`` in JSON form: ``[[task_id, parent], None]``.

    Args:
        task_id: the result's task id.
        parent: the parent result's tuple, or None.
    """
    return [[task_id, parent], None]


def group_tuple(
    group_id: str, member_tuples: Iterable[list[Any]], parent: list[Any] | None = None
) -> list[Any]:
    """Celery's ``GroupResult.as_tuple()`` in JSON form: ``[[group_id, parent], [members]]``.

    Args:
        group_id: the group id.
        member_tuples: each member's tuple (:func:`result_tuple` or a nested group).
        parent: the parent result's tuple, or None.
    """
    return [[group_id, parent], list(member_tuples)]
