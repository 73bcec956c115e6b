"""Celery's ``celery.utils.graph``: a dependency graph, its topological order, DOT output."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Mapping
from textwrap import dedent
from typing import IO

__all__ = ["DOT", "CycleError", "DependencyGraph", "GraphFormatter"]

Node = Hashable


class DOT:
    """Pieces of the Graphviz ``dot`` format."""

    HEAD = dedent(
        """
        {IN}{type} {id} {{
        {INp}graph [{attrs}]
    """
    )
    ATTR = "{name}={value}"
    NODE = '{INp}"{0}" [{attrs}]'
    EDGE = '{INp}"{0}" {dir} "{1}" [{attrs}]'
    ATTRSEP = ", "
    DIRS = {"graph": "--", "digraph": "->"}
    TAIL = "{IN}}}"


class CycleError(Exception):
    """A cycle was found in a graph that must be acyclic."""


class GraphFormatter:
    """Formats a graph's head, nodes, edges and tail as ``dot`` lines (as text)."""

    _attr = DOT.ATTR.strip()
    _node = DOT.NODE.strip()
    _edge = DOT.EDGE.strip()
    _head = DOT.HEAD.strip()
    _tail = DOT.TAIL.strip()
    _attrsep = DOT.ATTRSEP
    _dirs = dict(DOT.DIRS)

    scheme: dict[str, object] = {
        "shape": "box",
        "arrowhead": "vee",
        "style": "filled",
        "fontname": "HelveticaNeue",
    }
    edge_scheme: dict[str, object] = {
        "color": "darkseagreen4",
        "arrowcolor": "black",
        "arrowsize": 0.7,
    }
    node_scheme: dict[str, object] = {"fillcolor": "palegreen3", "color": "palegreen4"}
    term_scheme: dict[str, object] = {"fillcolor": "palegreen1", "color": "palegreen2"}
    graph_scheme: dict[str, object] = {"bgcolor": "mintcream"}

    def __init__(
        self,
        root: object = None,
        type: str | None = None,
        id: str | None = None,
        indent: int = 0,
        inw: str = " " * 4,
        **scheme: object,
    ) -> None:
        self.id = id or "dependencies"
        self.root = root
        self.type = type or "digraph"
        self.direction = self._dirs[self.type]
        self.IN = inw * (indent or 0)
        self.INp = self.IN + inw
        self.scheme = dict(self.scheme, **scheme)
        self.graph_scheme = dict(self.graph_scheme, root=self.label(self.root))

    def attr(self, name: str, value: object) -> str:
        """``name="value"``."""
        return self.FMT(self._attr, name=name, value=f'"{value}"')

    def attrs(
        self, d: Mapping[str, object] | None, scheme: Mapping[str, object] | None = None
    ) -> str:
        """The attributes ``d`` over ``scheme`` over the formatter's scheme, joined."""
        merged = dict(self.scheme, **(dict(scheme, **(d or {})) if scheme else (d or {})))
        return self._attrsep.join(self.attr(k, v) for k, v in merged.items())

    def head(self, **attrs: object) -> str:
        """The graph's opening line and its attributes."""
        return self.FMT(
            self._head, id=self.id, type=self.type, attrs=self.attrs(attrs, self.graph_scheme)
        )

    def tail(self) -> str:
        """The graph's closing brace."""
        return self.FMT(self._tail)

    def label(self, obj: object) -> object:
        """How a node is named in the output (the object itself)."""
        return obj

    def node(self, obj: object, **attrs: object) -> str:
        """A node that has dependencies."""
        return self.draw_node(obj, self.node_scheme, attrs)

    def terminal_node(self, obj: object, **attrs: object) -> str:
        """A node without dependencies."""
        return self.draw_node(obj, self.term_scheme, attrs)

    def edge(self, a: object, b: object, **attrs: object) -> str:
        """An edge from ``a`` to ``b``."""
        return self.draw_edge(a, b, attrs=attrs)

    def FMT(self, fmt: str, *args: object, **kwargs: object) -> str:
        """``fmt`` formatted with the indentation fields."""
        return fmt.format(*args, **dict(kwargs, IN=self.IN, INp=self.INp))

    def draw_edge(
        self,
        a: object,
        b: object,
        scheme: Mapping[str, object] | None = None,
        attrs: Mapping[str, object] | None = None,
    ) -> str:
        """An edge line."""
        return self.FMT(
            self._edge,
            self.label(a),
            self.label(b),
            dir=self.direction,
            attrs=self.attrs(attrs, self.edge_scheme),
        )

    def draw_node(
        self,
        obj: object,
        scheme: Mapping[str, object] | None = None,
        attrs: Mapping[str, object] | None = None,
    ) -> str:
        """A node line."""
        return self.FMT(self._node, self.label(obj), attrs=self.attrs(attrs, scheme))


class DependencyGraph:
    """Objects and what each depends on; :meth:`topsort` gives an order to handle them in.

    Built from ``(obj, dependencies)`` pairs; strongly connected components (cycles) are
    ordered as one node.
    """

    def __init__(
        self,
        it: Iterable[tuple[Node, Iterable[Node]]] | None = None,
        formatter: GraphFormatter | None = None,
    ) -> None:
        self.formatter = formatter or GraphFormatter()
        self.adjacent: dict[Node, list[Node]] = {}
        if it is not None:
            self.update(it)

    def add_arc(self, obj: Node) -> None:
        """Add a node."""
        self.adjacent.setdefault(obj, [])

    def add_edge(self, A: Node, B: Node) -> None:
        """``A`` depends on ``B``."""
        self[A].append(B)

    def connect(self, graph: DependencyGraph) -> None:
        """Add the nodes of another graph."""
        self.adjacent.update(graph.adjacent)

    def update(self, it: Iterable[tuple[Node, Iterable[Node]]]) -> None:
        """Add ``(obj, dependencies)`` pairs."""
        pairs = [(obj, list(deps)) for obj, deps in it]
        for obj, _ in pairs:
            self.add_arc(obj)
        for obj, deps in pairs:
            for dep in deps:
                self.add_edge(obj, dep)

    def topsort(self) -> list[Node]:
        """The nodes, dependencies first (one node of each cycle)."""
        components = self._tarjan72()
        owner = {node: component for component in components for node in component}
        condensed = DependencyGraph()
        for component in components:
            condensed.add_arc(component)
        for node in self:
            for successor in self[node]:
                if owner[node] != owner[successor]:
                    condensed.add_edge(owner[node], owner[successor])
        return [component[0] for component in condensed._khan62()]  # type: ignore[index]

    def valency_of(self, obj: Node) -> int:
        """The number of edges reachable from ``obj`` (0 when it is not in the graph)."""
        if obj not in self.adjacent:
            return 0
        return len(self[obj]) + sum(self.valency_of(node) for node in self[obj])

    def edges(self) -> Iterator[Node]:
        """The nodes that have dependencies."""
        return (obj for obj, adjacent in self.items() if adjacent)

    def _khan62(self) -> list[Node]:
        count: Counter[Node] = Counter()
        for node in self:
            for successor in self[node]:
                count[successor] += 1
        ready = [node for node in self if not count[node]]
        result = []
        while ready:
            node = ready.pop()
            result.append(node)
            for successor in self[node]:
                count[successor] -= 1
                if count[successor] == 0:
                    ready.append(successor)
        result.reverse()
        return result

    def _tarjan72(self) -> list[tuple[Node, ...]]:
        result: list[tuple[Node, ...]] = []
        stack: list[Node] = []
        low: dict[Node, int] = {}

        def visit(node: Node) -> None:
            if node in low:
                return
            num = len(low)
            low[node] = num
            position = len(stack)
            stack.append(node)
            for successor in self[node]:
                visit(successor)
                low[node] = min(low[node], low[successor])
            if num == low[node]:
                component = tuple(stack[position:])
                del stack[position:]
                result.append(component)
                for item in component:
                    low[item] = len(self)

        for node in self:
            visit(node)
        return result

    def to_dot(self, fh: IO[str], formatter: GraphFormatter | None = None) -> None:
        """Write the graph to ``fh`` in Graphviz ``dot`` format."""
        draw = formatter or self.formatter
        seen: set[object] = set()

        def once(line: str, obj: Node) -> None:
            if draw.label(obj) not in seen:
                print(line, file=fh)
                seen.add(draw.label(obj))

        print(draw.head(), file=fh)
        for obj, adjacent in self.items():
            if not adjacent:
                once(draw.terminal_node(obj), obj)
            for req in adjacent:
                once(draw.node(obj), obj)
                print(draw.edge(obj, req), file=fh)
        print(draw.tail(), file=fh)

    def format(self, obj: Node) -> object:
        """``obj`` as the formatter labels it."""
        return self.formatter.label(obj) if self.formatter else obj

    def __iter__(self) -> Iterator[Node]:
        return iter(self.adjacent)

    def __getitem__(self, node: Node) -> list[Node]:
        return self.adjacent[node]

    def __len__(self) -> int:
        return len(self.adjacent)

    def __contains__(self, obj: object) -> bool:
        return obj in self.adjacent

    def items(self) -> Iterable[tuple[Node, list[Node]]]:
        """``(node, dependencies)`` pairs."""
        return self.adjacent.items()

    iteritems = items

    def __repr__(self) -> str:
        return "\n".join(self.repr_node(node) for node in self)

    def repr_node(self, obj: Node, level: int = 1, fmt: str = "{0}({1})") -> str:
        """``obj`` and, indented below it, what it depends on, with valencies."""
        output = [fmt.format(obj, self.valency_of(obj))]
        if obj in self:
            for other in self[obj]:
                output.append("     " * level + fmt.format(other, self.valency_of(other)))
                output.extend(self.repr_node(other, level + 1).split("\n")[1:])
        return "\n".join(output)
