"""Celery's pure helper modules (utils.functional, text, term, iso8601, objects): same
results as Celery's own for the same inputs."""

from __future__ import annotations

import datetime as dt
import importlib
from contextlib import contextmanager
from typing import Any

import pytest

from celeriac.utils import functional, iso8601, objects, term, text

#: (function name, args) run through celeriac's and Celery's helper of that name.
TEXT_CASES: list[tuple[str, tuple[Any, ...]]] = [
    ("truncate", ("the quick brown fox jumps", 12)),
    ("truncate", ("short", 128)),
    ("abbr", ("abcdefghij", 6)),
    ("abbr", ("abcdefghij", 6, False)),
    ("abbr", (None, 3)),
    ("abbrtask", ("proj.tasks.module.add", 12)),
    ("abbrtask", ("tasks.add", 40)),
    ("dedent", ("    a\n    b\n  c",)),
    ("dedent_initial", ("    x",)),
    ("indent", ("a\nb", 2)),
    ("join", (["a", "", "b"],)),
    ("ensure_sep", ("\n", "x\n", 3)),
    ("ensure_newlines", ("x",)),
    ("fill_paragraphs", ("one two three four\nfive six", 9)),
    ("pluralize", (1, "task")),
    ("pluralize", (2, "task")),
    ("pretty", ({"a": 1, "b": [1, 2]},)),
    ("pretty", ((1, 2),)),
    ("str_to_list", ("a,b,c",)),
    ("simple_format", ("%n at %h %%", {"n": "w1", "h": lambda: "host"})),
]

FUNCTIONAL_CASES: list[tuple[str, tuple[Any, ...]]] = [
    ("maybe_list", (1,)),
    ("maybe_list", ([1, 2],)),
    ("maybe_list", ("abc",)),
    ("maybe_list", (None,)),
    ("is_list", ({"a": 1},)),
    ("is_list", ((1,),)),
    ("padlist", (["a", "b"], 3)),
    ("padlist", (["a", "b", "c", "d"], 3, "x")),
    ("dictfilter", ({"a": 1, "b": None},)),
    ("first", (None, [None, 0, 1])),
    ("first", (lambda v: v > 1, [1, 2, 3])),
    ("maybe", (int, "3")),
    ("maybe", (int, None)),
]


def _celery(module: str) -> Any:
    pytest.importorskip("celery")
    return importlib.import_module(f"celery.utils.{module}")


@pytest.mark.parametrize(("name", "args"), TEXT_CASES)
def test_text_matches_celery(name: str, args: tuple[Any, ...]) -> None:
    theirs = getattr(_celery("text"), name)
    mine = getattr(text, name)
    copy = tuple(dict(a) if isinstance(a, dict) else a for a in args)
    assert mine(*args) == theirs(*copy)


def test_simple_format_unknown_key() -> None:
    with pytest.raises(ValueError, match="%x"):
        text.simple_format("%x", {})


@pytest.mark.parametrize(("name", "args"), FUNCTIONAL_CASES)
def test_functional_matches_celery(name: str, args: tuple[Any, ...]) -> None:
    theirs = getattr(_celery("functional"), name)
    assert getattr(functional, name)(*args) == theirs(*args)


def test_chunks_uniq_mattrgetter_noop() -> None:
    assert list(functional.chunks(iter(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(functional.chunks(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(functional.uniq([3, 1, 3, 2, 1])) == [3, 1, 2]
    bunch = objects.Bunch(a=1)
    assert functional.mattrgetter("a", "b")(bunch) == {"a": 1, "b": None}
    assert functional.noop(1, x=2) is None


def test_firstmethod_skips_missing_and_none() -> None:
    class A:
        def m(self, x: int) -> None:
            return None

    class B:
        def m(self, x: int) -> int:
            return x * 2

    found = functional.firstmethod("m")
    assert found([object(), functional.lazy(A), B()], 4) == 8  # lazy A() evaluated, gave None
    assert found([A()], 4) is None
    assert functional.firstmethod("m", on_call=lambda meth, x: x + 1)([A()], 4) == 5


def test_lazy_and_mlazy() -> None:
    calls: list[int] = []

    def make() -> int:
        calls.append(1)
        return len(calls)

    lazy = functional.lazy(make)
    assert lazy() == 1 and lazy.evaluate() == 2 and lazy == 3
    assert functional.maybe_evaluate(lazy) == 4 and functional.maybe_evaluate(7) == 7
    once = functional.mlazy(make)
    assert once() == 5 and once() == 5


def test_memoize_counts_hits_and_bounds() -> None:
    calls: list[int] = []

    @functional.memoize(maxsize=2)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert [square(2), square(2), square(3), square(4), square(2)] == [4, 4, 9, 16, 4]
    assert calls == [2, 3, 4, 2]  # 2 was evicted by 3 and 4
    assert square.hits == 1 and square.misses == 4  # type: ignore[attr-defined]


def test_lru_cache() -> None:
    cache: functional.LRUCache[str, int] = functional.LRUCache(limit=2)
    cache["a"], cache["b"] = 1, 2
    assert cache["a"] == 1
    cache["c"] = 3
    assert sorted(cache) == ["a", "c"] and len(cache) == 2


def test_regen_consumes_lazily_and_repeats() -> None:
    pulled: list[int] = []

    def gen() -> Any:
        for i in range(4):
            pulled.append(i)
            yield i

    items = functional.regen(gen())
    assert items[1] == 1 and pulled == [0, 1]
    assert list(items) == [0, 1, 2, 3] and list(items) == [0, 1, 2, 3]
    assert len(items) == 4 and bool(items) and items[-1] == 3
    assert not functional.regen(iter([]))
    assert functional.regen([1]) == [1]


def test_head_from_fun_checks_arguments() -> None:
    def add(x: int, y: int, *, z: int = 0) -> int:
        return x + y + z

    head = functional.head_from_fun(add)
    assert head(1, 2) == 1 and head(1, y=2, z=3) == 1
    with pytest.raises(TypeError):
        head(1)
    bound = functional.head_from_fun(add, bound=True)
    assert bound(2) == 1
    with pytest.raises(TypeError):
        bound(2, 3)
    assert functional.fun_accepts_kwargs(lambda **kw: None)
    assert not functional.fun_accepts_kwargs(add)


def test_colored_matches_celery() -> None:
    theirs = _celery("term").colored
    for enabled in (True, False):
        mine = term.colored(enabled=enabled)
        other = theirs(enabled=enabled)
        assert str(mine.red("a ", mine.bold("b"))) == str(other.red("a ", other.bold("b")))
        assert str(mine.iblue("x")) == str(other.iblue("x"))
    plain = term.colored(enabled=True).green("hi ", term.colored().underline("there"))
    assert plain.no_color() == "hi there" and repr(plain) == "'hi there'"
    assert set(term.colored().names) >= {"red", "green", "white"}


@pytest.mark.parametrize(
    "value",
    ["2026-12-04T11:05:00", "2026-12-04T11:05:00.123456+02:00", "2026-12-04T11:05:00Z"],
)
def test_parse_iso8601_matches_celery(value: str) -> None:
    theirs = _celery("iso8601").parse_iso8601
    assert iso8601.parse_iso8601(value) == theirs(value)


def test_parse_iso8601_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        iso8601.parse_iso8601("yesterday")
    assert iso8601.parse_iso8601("2026-01-02T03:04:05Z").tzinfo == dt.UTC


def test_objects_helpers() -> None:
    class Base:
        def run(self) -> None: ...

    class Child(Base): ...

    assert objects.mro_lookup(Child, "run") is Base
    assert objects.mro_lookup(Child, "missing") is None
    assert objects.mro_lookup(Child, "run", stop={Base}, monkey_patched=[__name__]) is None

    events: list[str] = []

    @contextmanager
    def opened(name: str) -> Any:
        events.append(f"open {name}")
        yield name
        events.append(f"close {name}")

    with objects.FallbackContext("given", opened, "new") as value:
        assert value == "given"
    with objects.FallbackContext(None, opened, "new") as value:
        assert value == "new"
    assert events == ["open new", "close new"]

    class Record(dict[str, Any]):
        name = objects.getitem_property("name")
        deep = objects.getitem_property("meta.deep")

    record = Record(meta={})
    assert record.name is None
    record.name, record.deep = "x", 3
    assert record["name"] == "x" and record["meta"] == {"deep": 3}
    assert isinstance(Record.name, type)
