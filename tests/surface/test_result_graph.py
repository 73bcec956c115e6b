"""``AsyncResult.build_graph``/``graph`` (and EagerResult's): the DependencyGraph of a
result and the results it started, as Celery builds it."""

from __future__ import annotations

import io

import pytest

from celeriac import Celery, states
from celeriac.exceptions import IncompleteStream
from celeriac.result import AsyncResult
from celeriac.utils.graph import GraphFormatter

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def app() -> Celery:
    # memory:// stores are shared in the process: each test uses ids of its own
    return Celery("graph", broker="memory://", backend="memory://", set_as_current=False)


def _store(app: Celery, task_id: str, *children: AsyncResult[object], state: str = "") -> None:
    meta = app.result_meta(
        task_id, state or states.SUCCESS, task_id, children=[c.as_tuple() for c in children]
    )
    app.backend.store(task_id, meta)


def test_build_graph_follows_children(app: Celery) -> None:
    leaf_a, leaf_b = AsyncResult("leaf-a", app=app), AsyncResult("leaf-b", app=app)
    middle = AsyncResult("middle", app=app)
    _store(app, "leaf-a")
    _store(app, "leaf-b")
    _store(app, "middle", leaf_a, leaf_b)
    _store(app, "root", middle)
    root = AsyncResult("root", app=app)

    graph = root.build_graph()
    assert {str(node): sorted(map(str, deps)) for node, deps in graph.adjacent.items()} == {
        "root": ["middle"],
        "middle": ["leaf-a", "leaf-b"],
        "leaf-a": [],
        "leaf-b": [],
    }
    assert graph.formatter.root == "root" and graph.formatter.scheme["shape"] == "oval"
    assert [str(node) for node in graph.topsort()][-1] == "root"  # it depends on the rest
    out = io.StringIO()
    graph.to_dot(out)
    assert '"root" -> "middle"' in out.getvalue()

    assert root.graph is root.graph  # built once
    custom = GraphFormatter(root="mine")
    assert root.build_graph(formatter=custom).formatter is custom


def test_a_pending_child_stops_the_graph_unless_intermediate(app: Celery) -> None:
    pending = AsyncResult("not-yet", app=app)
    _store(app, "root-of-pending", pending)
    root = AsyncResult("root-of-pending", app=app)
    with pytest.raises(IncompleteStream):
        root.build_graph()
    graph = root.build_graph(intermediate=True)
    assert sorted(map(str, graph.adjacent)) == ["not-yet", "root-of-pending"]


def test_eager_result_graph(app: Celery) -> None:
    @app.task(name="graph.one")
    def one() -> int:
        return 1

    result = one.apply()
    assert list(result.graph.adjacent) == [result]
    assert result.build_graph().formatter.root == result.id
