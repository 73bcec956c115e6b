"""Celery's ``celery.utils.graph``: same order, valencies and dot output as Celery's."""

from __future__ import annotations

import io

import pytest

from celeriac.utils.graph import DependencyGraph, GraphFormatter

EDGES = [
    ("consumer", ["connection", "events"]),
    ("events", ["connection"]),
    ("connection", []),
    ("heart", ["events"]),
    ("a", ["b"]),
    ("b", ["a"]),  # a cycle: ordered as one node
]


def _celery_graph() -> type:
    return pytest.importorskip("celery.utils.graph").DependencyGraph  # type: ignore[no-any-return]


def test_topsort_puts_dependencies_first() -> None:
    graph = DependencyGraph(EDGES)
    order = graph.topsort()
    assert order.index("connection") < order.index("events") < order.index("consumer")
    assert order.index("events") < order.index("heart")
    assert ("a" in order) != ("b" in order)  # one node of the cycle
    assert order == _celery_graph()(EDGES).topsort()


def test_valency_edges_and_repr_match_celery() -> None:
    edges = EDGES[:4]
    mine, theirs = DependencyGraph(edges), _celery_graph()(edges)
    assert [mine.valency_of(n) for n in mine] == [theirs.valency_of(n) for n in theirs]
    assert mine.valency_of("missing") == 0
    assert list(mine.edges()) == list(theirs.edges())
    assert repr(mine) == repr(theirs)
    assert "consumer" in mine and len(mine) == 4 and mine["events"] == ["connection"]


def test_to_dot_matches_celery() -> None:
    mine, theirs = io.StringIO(), io.StringIO()
    DependencyGraph(EDGES[:4]).to_dot(mine)
    _celery_graph()(EDGES[:4]).to_dot(theirs)
    assert mine.getvalue() == theirs.getvalue()
    assert mine.getvalue().startswith("digraph dependencies {")
    assert '"consumer" -> "connection"' in mine.getvalue()


def test_formatter_options() -> None:
    fmt = GraphFormatter(root="r", type="graph", id="g", indent=1)
    assert fmt.head().startswith("    graph g {") and fmt.tail() == "    }"
    assert "--" in fmt.edge("a", "b")
    graph = DependencyGraph()
    graph.add_arc("x")
    graph.add_edge("x", "y")
    graph.add_arc("y")
    other = DependencyGraph([("z", [])])
    graph.connect(other)
    assert list(graph) == ["x", "y", "z"] and graph.format("x") == "x"
