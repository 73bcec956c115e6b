"""``celeriac.utils.serialization``: Celery's helpers for exceptions that do not pickle."""

from __future__ import annotations

import datetime
import pickle

import pytest

from celeriac.utils.serialization import (
    UnpickleableExceptionWrapper,
    b64decode,
    b64encode,
    create_exception_cls,
    find_pickleable_exception,
    get_pickleable_etype,
    get_pickleable_exception,
    get_pickled_exception,
    jsonify,
    raise_with_context,
    strtobool,
)


class _Local(Exception):
    """Unpicklable: its argument is a lambda."""


class _ParentOk(KeyError):
    pass


class _ChildBad(_ParentOk):
    def __reduce__(self) -> object:
        raise TypeError("no pickling")


def test_unpickleable_exception_is_wrapped_and_restored() -> None:
    exc = _Local("foo", lambda: None)
    wrapped = get_pickleable_exception(exc)
    assert isinstance(wrapped, UnpickleableExceptionWrapper)
    assert wrapped.exc_cls_name == "_Local"
    assert wrapped.exc_args[0] == "foo"  # type: ignore[index]
    assert isinstance(wrapped.exc_args[1], str)  # type: ignore[index]  # repr of the lambda
    again = pickle.loads(pickle.dumps(wrapped))
    restored = get_pickled_exception(again)
    assert type(restored).__name__ == "_Local"
    assert type(restored).__module__ == __name__
    assert restored.args[0] == "foo"


def test_pickleable_exception_passes_and_nearest_base_is_found() -> None:
    plain = ValueError("x")
    assert get_pickleable_exception(plain) is plain
    nearest = find_pickleable_exception(_ChildBad("k"))
    assert type(nearest) is _ParentOk and nearest.args == ("k",)
    assert get_pickled_exception(plain) is plain
    assert get_pickleable_etype(ValueError) is ValueError
    assert get_pickleable_etype(create_exception_cls("Made", "nowhere.module")) is Exception


def test_strtobool_b64_and_jsonify() -> None:
    assert strtobool("Yes") is True and strtobool("off") is False and strtobool(1) == 1
    with pytest.raises(TypeError):
        strtobool("maybe")
    assert b64decode(b64encode("héllo")) == "héllo".encode()
    moment = datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC)
    assert jsonify({"a": (1, moment), "b": datetime.timedelta(seconds=3)}) == {
        "a": [1, "2024-01-02T03:04:05.123Z"],
        "b": "0:00:03",
    }
    with pytest.raises(ValueError):
        jsonify(object())
    assert jsonify(object(), unknown_type_filter=lambda o: "x") == "x"


def test_raise_with_context_chains() -> None:
    with pytest.raises(RuntimeError) as info:
        try:
            raise KeyError("first")
        except KeyError:
            raise_with_context(RuntimeError("second"))
    assert isinstance(info.value.__cause__, KeyError)
