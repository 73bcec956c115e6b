"""Celery's ``celery.utils.functional``: small helpers for iterables and callables."""

from __future__ import annotations

import functools
import inspect
import threading
from collections import OrderedDict, UserList
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, MutableMapping
from itertools import islice
from typing import Any, TypeVar

__all__ = [
    "LRUCache",
    "chunks",
    "dictfilter",
    "first",
    "firstmethod",
    "fun_accepts_kwargs",
    "head_from_fun",
    "is_list",
    "lazy",
    "maybe",
    "maybe_evaluate",
    "maybe_list",
    "mattrgetter",
    "memoize",
    "mlazy",
    "noop",
    "padlist",
    "regen",
    "uniq",
]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


class LRUCache(MutableMapping[K, V]):
    """A mapping holding at most ``limit`` items (None: unbounded), least recently used
    out first; thread-safe."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.mutex = threading.RLock()
        self.data: OrderedDict[K, V] = OrderedDict()

    def __getitem__(self, key: K) -> V:
        with self.mutex:
            value = self.data[key]
            self.data.move_to_end(key)
            return value

    def __setitem__(self, key: K, value: V) -> None:
        with self.mutex:
            self.data[key] = value
            self.data.move_to_end(key)
            while self.limit is not None and len(self.data) > self.limit:
                self.data.popitem(last=False)

    def __delitem__(self, key: K) -> None:
        with self.mutex:
            del self.data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(list(self.data))

    def __len__(self) -> int:
        return len(self.data)

    def popitem(self, last: bool = True) -> tuple[K, V]:
        """Remove and return the most (``last``) or least recently used item."""
        with self.mutex:
            return self.data.popitem(last)

    def incr(self, key: K, delta: int = 1) -> int:
        """Add ``delta`` to an integer value (stored as a string, as kombu's)."""
        with self.mutex:
            new: int = int(str(self.data.pop(key))) + delta
            self[key] = str(new)  # type: ignore[assignment]
            return new


def noop(*args: object, **kwargs: object) -> None:
    """Take any arguments and do nothing."""


def memoize(
    maxsize: int | None = None,
    keyfun: Callable[[tuple[object, ...], dict[str, object]], Hashable] | None = None,
) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Cache a function's return value by its arguments (``maxsize`` most recent);
    the wrapper counts ``hits``/``misses`` and has ``clear()``."""

    def decorate(fun: Callable[..., T]) -> Callable[..., T]:
        cache: LRUCache[Hashable, T] = LRUCache(limit=maxsize)

        @functools.wraps(fun)
        def memoized(*args: object, **kwargs: object) -> T:
            key = keyfun(args, kwargs) if keyfun else (args, tuple(sorted(kwargs.items())))
            try:
                value = cache[key]
            except KeyError:
                value = fun(*args, **kwargs)
                memoized.misses += 1  # type: ignore[attr-defined]
                cache[key] = value
            else:
                memoized.hits += 1  # type: ignore[attr-defined]
            return value

        def clear() -> None:
            cache.clear()
            memoized.hits = memoized.misses = 0  # type: ignore[attr-defined]

        memoized.hits = memoized.misses = 0  # type: ignore[attr-defined]
        memoized.clear = clear  # type: ignore[attr-defined]
        return memoized

    return decorate


class lazy:
    """A deferred call ``fun(*args, **kwargs)``, evaluated on every ``()``/``evaluate()``
    (and by ``str``, ``repr`` and ``==``)."""

    def __init__(self, fun: Callable[..., object], *args: object, **kwargs: object) -> None:
        self._fun = fun
        self._args = args
        self._kwargs = kwargs

    def __call__(self) -> Any:
        return self.evaluate()

    def evaluate(self) -> Any:
        """Call the function now."""
        return self._fun(*self._args, **self._kwargs)

    def __str__(self) -> str:
        return str(self())

    def __repr__(self) -> str:
        return repr(self())

    def __eq__(self, other: object) -> bool:
        return bool(self() == other)

    def __hash__(self) -> int:
        return hash(self())

    def __deepcopy__(self, memo: dict[int, object]) -> lazy:
        memo[id(self)] = self
        return self


class mlazy(lazy):
    """A :class:`lazy` evaluated once; later calls return the first value."""

    evaluated = False
    _value: object = None

    def evaluate(self) -> Any:
        """Call the function the first time, then return its value."""
        if not self.evaluated:
            self._value = super().evaluate()
            self.evaluated = True
        return self._value


def maybe_evaluate(value: Any) -> Any:
    """Evaluate ``value`` when it is a :class:`lazy`, else return it."""
    return value.evaluate() if isinstance(value, lazy) else value


def is_list(
    obj: object,
    scalars: tuple[type, ...] = (Mapping, str),
    iters: tuple[type, ...] = (Iterable,),
) -> bool:
    """Whether ``obj`` is iterable and not a mapping or string."""
    return isinstance(obj, iters) and not isinstance(obj, scalars or ())


def maybe_list(obj: Any, scalars: tuple[type, ...] = (Mapping, str)) -> Any:
    """``obj`` as is when a list-like (or None), else ``[obj]``."""
    return obj if obj is None or is_list(obj, scalars) else [obj]


def dictfilter(d: Mapping[Hashable, V] | None = None, **kw: V) -> dict[Hashable, V]:
    """``d`` (updated with ``kw``) without the keys whose value is None."""
    items: dict[Hashable, V] = dict(d or {})
    items.update(kw)
    return {k: v for k, v in items.items() if v is not None}


def first(predicate: Callable[[Any], object] | None, it: Iterable[object]) -> Any:
    """The first item ``predicate`` accepts (None: the first item that is not None);
    :class:`lazy` items are evaluated first."""
    for value in it:
        value = maybe_evaluate(value)
        if predicate(value) if predicate is not None else value is not None:
            return value
    return None


def firstmethod(method: str, on_call: Callable[..., object] | None = None) -> Callable[..., Any]:
    """A function calling ``method`` on each object of a list until one returns non-None."""

    def matcher(it: Iterable[object], *args: object, **kwargs: object) -> Any:
        for obj in it:
            meth = getattr(maybe_evaluate(obj), method, None)
            if meth is None:
                continue
            reply = on_call(meth, *args, **kwargs) if on_call else meth(*args, **kwargs)
            if reply is not None:
                return reply
        return None

    return matcher


def chunks(it: Iterable[T], n: int) -> Iterator[list[T]]:
    """Split ``it`` into lists of ``n`` items (the last may be shorter)."""
    iterator = iter(it)
    for item in iterator:
        yield [item, *islice(iterator, n - 1)]


def padlist(container: Iterable[T], size: int, default: T | None = None) -> list[T | None]:
    """``container`` as a list of exactly ``size`` items, padded with ``default``."""
    items = list(container)
    return items[:size] + [default] * (size - len(items))


def mattrgetter(*attrs: str) -> Callable[[object], dict[str, object]]:
    """A function returning ``{attr: getattr(obj, attr, None)}`` for ``attrs``."""
    return lambda obj: {attr: getattr(obj, attr, None) for attr in attrs}


def uniq(it: Iterable[T]) -> Iterator[T]:
    """The items of ``it`` without repeats, in order."""
    seen: set[T] = set()
    for obj in it:
        if obj not in seen:
            seen.add(obj)
            yield obj


class _regen(UserList[T], list[T]):  # type: ignore[misc]  # a list (for json), filled on demand
    def __init__(self, it: Iterable[T]) -> None:
        self._it = iter(it)
        self._consumed: list[T] = []
        self._done = False

    def __reduce__(self) -> tuple[type, tuple[list[T]]]:
        return list, (self.data,)

    def _pull(self) -> bool:
        try:
            self._consumed.append(next(self._it))
        except StopIteration:
            self._done = True
            return False
        return True

    def __iter__(self) -> Iterator[T]:
        index = 0
        while index < len(self._consumed) or (not self._done and self._pull()):
            yield self._consumed[index]
            index += 1

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice) or index < 0:
            return self.data[index]
        while len(self._consumed) <= index and not self._done and self._pull():
            pass
        return self._consumed[index]

    def __bool__(self) -> bool:
        return bool(self._consumed) or (not self._done and self._pull())

    @property
    def data(self) -> list[T]:  # type: ignore[override]
        if not self._done:
            self._consumed.extend(self._it)
            self._done = True
        return self._consumed

    def __repr__(self) -> str:
        more = "" if self._done else "..."
        return f"<{type(self).__name__}: [{', '.join(map(repr, self._consumed))}{more}]>"


def regen(it: Iterable[T]) -> list[T]:
    """A list-like over ``it`` that can be iterated many times, consumed only as needed
    (lists and tuples are returned as they are)."""
    if isinstance(it, (list, tuple)):
        return it  # type: ignore[return-value]
    return _regen(it)


def head_from_fun(fun: Callable[..., object], bound: bool = False) -> Callable[..., int]:
    """A do-nothing function with ``fun``'s signature, to check call arguments cheaply
    (``bound``: the first parameter is already bound)."""
    target = fun if inspect.isroutine(fun) or not callable(fun) else fun.__call__  # type: ignore[operator]
    signature = inspect.signature(target)

    def head(*args: object, **kwargs: object) -> int:
        signature.bind(*args, **kwargs)
        return 1

    head.__name__ = getattr(fun, "__name__", type(fun).__name__)
    head.__signature__ = signature  # type: ignore[attr-defined]
    if bound:
        return functools.partial(head, object())
    return head


def fun_accepts_kwargs(fun: Callable[..., object]) -> bool:
    """Whether ``fun`` takes ``**kwargs``."""
    code = getattr(fun, "__code__", None)
    if code is not None:
        return bool(code.co_flags & inspect.CO_VARKEYWORDS)
    params = inspect.signature(fun).parameters.values()
    return any(p.kind is p.VAR_KEYWORD for p in params)


def maybe(typ: Callable[[Any], T], val: object) -> T | None:
    """``typ(val)`` unless ``val`` is None."""
    return typ(val) if val is not None else val
