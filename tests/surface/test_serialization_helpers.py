"""``celeriac.utils.serialization``: exceptions that survive pickling, as Celery's helpers."""

from __future__ import annotations

import pickle

import pytest

from celeriac.utils.serialization import (
    UnpickleableExceptionWrapper,
    b64decode,
    b64encode,
    create_exception_cls,
    get_pickleable_etype,
    get_pickleable_exception,
    get_pickled_exception,
    strtobool,
    subclass_exception,
)


class NeedsTwo(ValueError):
    """Its constructor does not take its own args back: unpickleable as it is."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}/{b}")


def test_unpickleable_exception_falls_back_to_a_base_or_a_wrapper() -> None:
    fine = KeyError("k")
    assert get_pickleable_exception(fine) is fine
    nearest = get_pickleable_exception(NeedsTwo(1, 2))
    assert type(nearest) is ValueError and nearest.args == ("1/2",)

    def local_class() -> type[Exception]:
        class Local(Exception):
            def __init__(self, x: object) -> None:
                super().__init__(x)
                self.handle = lambda: None  # not picklable

        return Local

    odd = local_class()(object())
    wrapped = get_pickleable_exception(odd)
    assert isinstance(wrapped, UnpickleableExceptionWrapper)
    again = pickle.loads(pickle.dumps(wrapped))
    restored = get_pickled_exception(again)
    assert type(restored).__name__ == "Local" and isinstance(restored, Exception)
    assert str(wrapped).startswith("Local(")
    assert get_pickled_exception(fine) is fine


def test_small_helpers() -> None:
    cls = create_exception_cls("Boom", "proj.errors")
    assert cls.__module__ == "proj.errors" and issubclass(cls, Exception)
    assert issubclass(subclass_exception("E", KeyError, "m"), KeyError)
    assert get_pickleable_etype(KeyError) is KeyError
    assert get_pickleable_etype(type("Anon", (Exception,), {})) is Exception
    assert b64decode(b64encode(b"\x00data")) == b"\x00data"
    assert strtobool("YES") is True and strtobool("off") is False and strtobool(True) is True
    with pytest.raises(TypeError):
        strtobool("maybe")
