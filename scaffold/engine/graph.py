"""Pure functions over a cascade's DAG: roots, children, ancestors, descendants, cycles, order."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from scaffold.engine.model import CascadeSpec

Edges = Mapping[str, Iterable[str]]  # task -> its parents


def parents_of(spec: CascadeSpec) -> dict[str, list[str]]:
    return {t.name: list(dict.fromkeys(t.parents)) for t in spec.tasks}


def children_of(spec: CascadeSpec) -> dict[str, list[str]]:
    """task -> its direct children, in file order."""
    children: dict[str, list[str]] = {t.name: [] for t in spec.tasks}
    for task in spec.tasks:
        for parent in dict.fromkeys(task.parents):
            if parent in children:
                children[parent].append(task.name)
    return children


def roots(spec: CascadeSpec) -> list[str]:
    return [t.name for t in spec.tasks if not t.depends_on]


def _walk(start: Iterable[str], step: Mapping[str, Iterable[str]]) -> list[str]:
    seen: dict[str, None] = {}
    queue = deque(start)
    while queue:
        node = queue.popleft()
        for nxt in step.get(node, ()):
            if nxt not in seen:
                seen[nxt] = None
                queue.append(nxt)
    return list(seen)


def descendants(children: Mapping[str, Iterable[str]], tasks: Iterable[str]) -> list[str]:
    """Every task reachable downwards from ``tasks`` (excluding them unless reachable), BFS order."""
    return _walk(tasks, children)


def ancestors(parents: Mapping[str, Iterable[str]], tasks: Iterable[str]) -> list[str]:
    return _walk(tasks, parents)


def find_cycle(parents: Edges) -> list[str] | None:
    """Return one cycle as ``[a, b, c, a]`` (a depends on ... depends on a), or None.

    Iterative DFS so that a 10,000-task chain does not hit the recursion limit.
    """
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(parents, white)
    for start in parents:
        if color[start] != white:
            continue
        stack: list[tuple[str, list[str]]] = [(start, [p for p in parents[start] if p in color])]
        path = [start]
        color[start] = grey
        while stack:
            node, todo = stack[-1]
            if not todo:
                color[node] = black
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop()
            if color[nxt] == grey:
                cycle = [*path[path.index(nxt) :], nxt]
                # Report in dependency order: a -> b means "a depends on b" reversed to flow order.
                return list(reversed(cycle))
            if color[nxt] == white:
                color[nxt] = grey
                path.append(nxt)
                stack.append((nxt, [p for p in parents[nxt] if p in color]))
    return None


def topological_order(parents: Edges) -> list[str]:
    """Kahn's algorithm; parents before children, ties broken by the mapping's order."""
    remaining = {name: len(set(ps)) for name, ps in parents.items()}
    children: dict[str, list[str]] = {name: [] for name in parents}
    for name, ps in parents.items():
        for parent in set(ps):
            children[parent].append(name)
    queue = deque(name for name, count in remaining.items() if count == 0)
    order: list[str] = []
    while queue:
        node = queue.popleft()
        order.append(node)
        for child in children[node]:
            remaining[child] -= 1
            if remaining[child] == 0:
                queue.append(child)
    if len(order) != len(remaining):
        raise ValueError("the graph has a cycle")
    return order
