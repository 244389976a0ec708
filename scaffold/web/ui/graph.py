"""A layered (Sugiyama-style) layout of a cascade's DAG for the web UI, and its SVG.

The waterfall flows downwards: parents above their children.

1. **Layers**: longest path from the roots, then each task with more children than parents is
   moved down next to its first child (a cheap step towards network simplex: fewer long edges).
2. **Long edges** get a virtual node on every layer they cross (capped for pathological graphs:
   past the cap the longest edges are drawn directly), so that they are ordered and routed too.
3. **Order** in each layer: depth-first discovery order, then barycenter sweeps down and up
   (and, on small graphs, swaps of neighbours) keeping the order with the fewest crossings,
   counted per pair of layers as inversions (sorted list, binary search).
4. **Coordinates**: each layer is placed at the (weighted) mean position of its neighbours in
   the layer above, then below, with the order and the minimum gaps kept (an isotonic regression
   solved by pooling adjacent violators, linear time); long edges weigh more, so they run straight.
5. **Edges**: cubic curves from a port on the parent's bottom to one on the child's top, through
   their virtual nodes.

Everything is pure Python over integer indices: 1,000 tasks take a few tens of milliseconds
(``tests/web/test_ui_graph.py`` measures it; the page caches it per definition version).
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

NODE_H = 30
GAP_Y = 40  # vertical space between two layers
GAP_X = 20  # horizontal space between two tasks of a layer
GAP_VIRTUAL = 8  # ... when a virtual node (a long edge) is involved
VIRTUAL_W = 8
MARGIN = 12
CHAR_W = 7.3  # 12 px monospace
LABEL_MAX = 24  # characters of a name shown on a node (the full name is in its <title>)
NODE_PAD = 76  # icon, run number and paddings around the label
NODE_MIN_W = 124
KINDS = ("success", "error", "always")

Task = tuple[str, Sequence[tuple[str, str]]]  # (name, [(parent, kind), ...])


@dataclass(frozen=True)
class NodeBox:
    name: str
    label: str  # the name, truncated to LABEL_MAX characters
    x: float  # left
    y: float  # top
    w: float
    h: float
    layer: int


@dataclass(frozen=True)
class EdgePath:
    parent: str
    child: str
    kind: str
    d: str  # SVG path data


@dataclass
class Layout:
    nodes: list[NodeBox]  # in the order given (file order)
    edges: list[EdgePath]
    width: float
    height: float
    layers: int
    crossings: int
    virtual: int  # virtual nodes used for long edges
    by_name: dict[str, NodeBox] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name = {n.name: n for n in self.nodes}


def label_of(name: str) -> str:
    return name if len(name) <= LABEL_MAX else name[: LABEL_MAX - 1] + "…"


def node_width(label: str) -> float:
    return max(NODE_MIN_W, NODE_PAD + CHAR_W * len(label))


# ---------------------------------------------------------------------------------- layout


def layout(tasks: Sequence[Task], *, sweeps: int = 8, virtual_cap: int | None = None) -> Layout:
    """Lay out ``tasks`` (in file order, each with its ``(parent, kind)`` dependencies).

    Unknown parents and self-dependencies are ignored; a cycle raises ``ValueError``.
    """
    names = [name for name, _ in tasks]
    index = {name: i for i, name in enumerate(names)}
    n = len(names)
    deps: list[tuple[int, int, str]] = []
    parents: list[list[int]] = [[] for _ in range(n)]
    children: list[list[int]] = [[] for _ in range(n)]
    for child, (_, dependencies) in enumerate(tasks):
        for parent_name, kind in dependencies:
            parent = index.get(parent_name)
            if parent is None or parent == child:
                continue
            dep = (parent, child, kind if kind in KINDS else "success")
            if dep in deps[-len(dependencies) :]:  # the same dependency twice: one edge
                continue
            deps.append(dep)
            if parent not in parents[child]:
                parents[child].append(parent)
                children[parent].append(child)
    order = _topological(n, parents, children)
    layer = _layers(order, parents, children)
    labels = [label_of(name) for name in names]
    width = [node_width(label) for label in labels]

    # ---- virtual nodes on long edges (ids n, n+1, ...)
    up: list[list[int]] = [list(ps) for ps in parents]
    down: list[list[int]] = [list(cs) for cs in children]
    chains: dict[tuple[int, int], list[int]] = {}
    spans = sorted(
        ((layer[c] - layer[p] - 1, p, c) for c in range(n) for p in parents[c] if layer[c] - layer[p] > 1),
    )
    cap = virtual_cap if virtual_cap is not None else max(2000, 4 * n)
    used = 0
    direct: set[tuple[int, int]] = set()
    for span, p, c in spans:
        if used + span > cap:
            direct.add((p, c))
            continue
        used += span
        chain = [p]
        for step in range(1, span + 1):
            v = len(layer)
            layer.append(layer[p] + step)
            width.append(VIRTUAL_W)
            up.append([chain[-1]])
            down.append([])
            down[chain[-1]].append(v)
            chain.append(v)
        down[chain[-1]].append(c)
        up[c].append(chain[-1])
        chain.append(c)
        # replace the direct adjacency p -> c by the chain
        down[p].remove(c)
        up[c].remove(p)
        chains[(p, c)] = chain
    for p, c in direct:  # drawn directly, not part of ordering or placement
        down[p].remove(c)
        up[c].remove(p)
    total = len(layer)
    virtual = total - n
    depth = (max(layer) + 1) if layer else 0

    # ---- order
    layers = _initial_order(order, layer, down, depth)
    position = [0] * total
    _index_positions(layers, position)
    layers, crossings = _reduce_crossings(layers, position, up, down, sweeps, small=total <= 400)
    _index_positions(layers, position)

    # ---- coordinates
    x = _place(layers, position, up, down, width, n)
    left = min((x[v] - width[v] / 2 for v in range(total)), default=0.0)
    shift = MARGIN - left
    x = [xv + shift for xv in x]
    y = [MARGIN + layer[v] * (NODE_H + GAP_Y) for v in range(total)]
    right = max((x[v] + width[v] / 2 for v in range(total)), default=0.0)

    nodes = [
        NodeBox(names[i], labels[i], round(x[i] - width[i] / 2, 1), y[i], width[i], NODE_H, layer[i])
        for i in range(n)
    ]
    edges = _route(deps, chains, x, y, width, names)
    return Layout(
        nodes=nodes,
        edges=edges,
        width=round(right + MARGIN, 1),
        height=MARGIN * 2 + depth * NODE_H + max(0, depth - 1) * GAP_Y,
        layers=depth,
        crossings=crossings,
        virtual=virtual,
    )


def _topological(n: int, parents: list[list[int]], children: list[list[int]]) -> list[int]:
    remaining = [len(ps) for ps in parents]
    queue = [i for i in range(n) if not remaining[i]]
    order: list[int] = []
    head = 0
    while head < len(queue):
        v = queue[head]
        head += 1
        order.append(v)
        for c in children[v]:
            remaining[c] -= 1
            if not remaining[c]:
                queue.append(c)
    if len(order) != n:
        raise ValueError("the graph has a cycle")
    return order


def _layers(order: list[int], parents: list[list[int]], children: list[list[int]]) -> list[int]:
    layer = [0] * len(order)
    for v in order:
        if parents[v]:
            layer[v] = max(layer[p] for p in parents[v]) + 1
    # Tasks with more children than parents move down next to their first child: their edges
    # get shorter in total (a root above a deep child is drawn just above it).
    for v in reversed(order):
        if children[v] and len(children[v]) > len(parents[v]):
            lowest = min(layer[c] for c in children[v]) - 1
            if lowest > layer[v]:
                layer[v] = lowest
    return layer


def _initial_order(order: list[int], layer: list[int], down: list[list[int]], depth: int) -> list[list[int]]:
    """Depth-first discovery order from the roots (file order): subtrees start out together."""
    seen = [False] * len(layer)
    layers: list[list[int]] = [[] for _ in range(depth)]
    for root in order:
        if seen[root]:
            continue
        seen[root] = True
        stack = [root]
        while stack:
            v = stack.pop()
            layers[layer[v]].append(v)
            for c in reversed(down[v]):
                if not seen[c]:
                    seen[c] = True
                    stack.append(c)
    return layers


def _index_positions(layers: list[list[int]], position: list[int]) -> None:
    for row in layers:
        for i, v in enumerate(row):
            position[v] = i


def _crossings_between(upper: list[int], down: list[list[int]], position: list[int]) -> int:
    """Crossings of the edges between two adjacent layers: the inversions of the lower ends
    taken in the order of the upper ends (counted with a sorted list; C-speed insertions)."""
    seen: list[int] = []
    crossings = 0
    for u in upper:  # upper is in position order
        targets = down[u]
        if not targets:
            continue
        if len(targets) == 1:
            t = position[targets[0]]
            crossings += len(seen) - bisect_right(seen, t)
            insort(seen, t)
            continue
        ends = [position[c] for c in targets]
        for t in ends:
            crossings += len(seen) - bisect_right(seen, t)
        for t in ends:
            insort(seen, t)
    return crossings


def _count(layers: list[list[int]], position: list[int], down: list[list[int]]) -> int:
    return sum(_crossings_between(layers[i], down, position) for i in range(len(layers) - 1))


def _reduce_crossings(
    layers: list[list[int]],
    position: list[int],
    up: list[list[int]],
    down: list[list[int]],
    sweeps: int,
    small: bool,
) -> tuple[list[list[int]], int]:
    best = [list(row) for row in layers]
    best_count = _count(layers, position, down)
    for sweep in range(sweeps):
        if best_count == 0:
            break
        downwards = sweep % 2 == 0
        indices = range(1, len(layers)) if downwards else range(len(layers) - 2, -1, -1)
        neighbours = up if downwards else down
        for li in indices:
            row = layers[li]
            fixed_size = len(layers[li - 1 if downwards else li + 1])
            scale = (fixed_size - 1) / (len(row) - 1) if len(row) > 1 else 0.0
            keys = {}
            for v in row:
                ns = neighbours[v]
                if ns:
                    keys[v] = (sum(position[u] for u in ns) / len(ns), position[v])
                else:
                    keys[v] = (position[v] * scale, position[v])
            row.sort(key=keys.__getitem__)
            for i, v in enumerate(row):
                position[v] = i
        if small:
            _transpose(layers, position, up, down)
        count = _count(layers, position, down)
        if count < best_count:
            best_count = count
            best = [list(row) for row in layers]
    _index_positions(best, position)
    return best, best_count


def _pair_crossings(a: int, b: int, position: list[int], adjacency: list[list[int]]) -> int:
    """Crossings between the edges of a (left) and b (right) towards one neighbouring layer."""
    return sum(1 for pa in adjacency[a] for pb in adjacency[b] if position[pa] > position[pb])


def _transpose(
    layers: list[list[int]], position: list[int], up: list[list[int]], down: list[list[int]]
) -> None:
    """Swap neighbours while that removes crossings (small graphs only: quadratic in degree)."""
    for _ in range(4):
        improved = False
        for row in layers:
            for i in range(len(row) - 1):
                a, b = row[i], row[i + 1]
                now = _pair_crossings(a, b, position, up) + _pair_crossings(a, b, position, down)
                swapped = _pair_crossings(b, a, position, up) + _pair_crossings(b, a, position, down)
                if swapped < now:
                    row[i], row[i + 1] = b, a
                    position[a], position[b] = i + 1, i
                    improved = True
        if not improved:
            return


def _place(
    layers: list[list[int]],
    position: list[int],
    up: list[list[int]],
    down: list[list[int]],
    width: list[float],
    real: int,
) -> list[float]:
    total = len(width)
    x = [0.0] * total
    widest = 0.0
    gaps: list[list[float]] = []
    for row in layers:
        gap_row = [0.0]
        for i in range(1, len(row)):
            a, b = row[i - 1], row[i]
            gap = GAP_X if a < real and b < real else GAP_VIRTUAL
            gap_row.append((width[a] + width[b]) / 2 + gap)
        gaps.append(gap_row)
        widest = max(widest, sum(gap_row))
    for row, gap_row in zip(layers, gaps, strict=True):  # start centred, packed
        cursor = (widest - sum(gap_row)) / 2
        for v, gap in zip(row, gap_row, strict=True):
            cursor += gap
            x[v] = cursor
    both = [u + d for u, d in zip(up, down, strict=True)]
    downwards = range(len(layers))
    upwards = range(len(layers) - 1, -1, -1)
    # towards the parents, the children, ... then both at once to balance
    for neighbours, rows in (
        (up, downwards),
        (down, upwards),
        (up, downwards),
        (down, upwards),
        (both, downwards),
        (both, upwards),
    ):
        for li in rows:
            row = layers[li]
            desired, weight = [], []
            for v in row:
                ns = neighbours[v]
                if ns:
                    total = 0.0
                    for u in ns:
                        total += x[u]
                    desired.append(total / len(ns))
                    weight.append(len(ns) * (4.0 if v >= real else 1.0))
                else:
                    desired.append(x[v])
                    weight.append(0.05)
            for v, xv in zip(row, _isotonic(desired, weight, gaps[li]), strict=True):
                x[v] = xv
    return x


def _isotonic(desired: list[float], weight: list[float], gaps: list[float]) -> list[float]:
    """Positions closest to ``desired`` (weighted least squares) keeping order and gaps."""
    offsets, total = [], 0.0
    for gap in gaps:
        total += gap
        offsets.append(total)
    blocks: list[list[float]] = []  # [sum of weights, weighted sum of targets, count]
    for d, w, off in zip(desired, weight, offsets, strict=True):
        blocks.append([w, w * (d - off), 1])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] > blocks[-1][1] / blocks[-1][0]:
            w2, s2, c2 = blocks.pop()
            blocks[-1][0] += w2
            blocks[-1][1] += s2
            blocks[-1][2] += c2
    out: list[float] = []
    for w, s, count in blocks:
        out.extend([s / w] * int(count))
    return [v + off for v, off in zip(out, offsets, strict=True)]


def _spread(count: int, width: float) -> list[float]:
    """Offsets of ``count`` ports centred on a side of ``width``."""
    if count == 1:
        return [0.0]
    step = min(12.0, width * 0.6 / (count - 1))
    return [(i - (count - 1) / 2) * step for i in range(count)]


def _route(
    deps: list[tuple[int, int, str]],
    chains: dict[tuple[int, int], list[int]],
    x: list[float],
    y: list[float],
    width: list[float],
    names: list[str],
) -> list[EdgePath]:
    # the first hop of each edge, to order the ports of a node by where its edges go
    outgoing: dict[int, list[tuple[float, int]]] = {}
    incoming: dict[int, list[tuple[float, int]]] = {}
    for i, (p, c, _) in enumerate(deps):
        chain = chains.get((p, c))
        first = chain[1] if chain else c
        last = chain[-2] if chain else p
        outgoing.setdefault(p, []).append((x[first], i))
        incoming.setdefault(c, []).append((x[last], i))
    start_x: dict[int, float] = {}
    end_x: dict[int, float] = {}
    for ports, into in ((outgoing, start_x), (incoming, end_x)):
        for v, items in ports.items():
            items.sort()
            for (_, i), offset in zip(items, _spread(len(items), width[v]), strict=True):
                into[i] = x[v] + offset
    edges: list[EdgePath] = []
    for i, (p, c, kind) in enumerate(deps):
        points = [(start_x[i], y[p] + NODE_H)]
        for v in (chains.get((p, c)) or [])[1:-1]:
            points.append((x[v], y[v]))
            points.append((x[v], y[v] + NODE_H))
        points.append((end_x[i], y[c]))
        edges.append(EdgePath(names[p], names[c], kind, _path(points)))
    return edges


def _path(points: list[tuple[float, float]]) -> str:
    (x0, y0), rest = points[0], points[1:]
    parts = [f"M{x0:.0f} {y0:.0f}"]
    for x1, y1 in rest:
        if abs(x1 - x0) < 0.5:
            parts.append(f"V{y1:.0f}")
        else:
            mid = (y1 - y0) / 2
            parts.append(f"C{x0:.0f} {y0 + mid:.0f} {x1:.0f} {y1 - mid:.0f} {x1:.0f} {y1:.0f}")
        x0, y0 = x1, y1
    return "".join(parts)


# ----------------------------------------------------------------------------------- SVG


@dataclass(frozen=True)
class NodeState:
    display: str
    label: str  # e.g. "awaiting approval"
    icon: str
    run: int = 0
    reason: str | None = None
    disabled: bool = False


def _title(name: str, st: NodeState) -> str:
    text = f"{name}: {st.label}"
    if st.run:
        text += f", run {st.run}"
    if st.disabled:
        text += ", disabled"
    if st.reason:
        text += f" ({st.reason})"
    return text


def render_svg(lay: Layout, states: Mapping[str, NodeState], cascade: str) -> Markup:
    """The graph as inline SVG; user-supplied text is escaped. Nodes are focusable buttons."""
    w, h = lay.width, lay.height
    out: list[str] = [
        f'<svg class="graph" id="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}"'
        f' data-width="{w:.0f}" data-height="{h:.0f}" data-tasks="{len(lay.nodes)}"'
        f' role="group" aria-label="{escape(f"Task graph of {cascade}: {len(lay.nodes)} tasks")}">',
        "<defs>",
    ]
    for kind in KINDS:
        out.append(
            f'<marker id="arrow-{kind}" class="arrow k-{kind}" viewBox="0 0 10 10" refX="9" refY="5"'
            ' markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse">'
            '<path d="M0 1L10 5L0 9z"/></marker>'
        )
    out.append('</defs><g class="graph-layer" id="graph-layer"><g class="edges">')
    for e in lay.edges:
        out.append(
            f'<path class="edge k-{e.kind}" d="{e.d}" data-from="{escape(e.parent)}"'
            f' data-to="{escape(e.child)}" marker-end="url(#arrow-{e.kind})"/>'
        )
    out.append('</g><g class="nodes">')
    unknown = NodeState("not_started", "not started", "○")
    mid = f"{NODE_H / 2 + 0.5:g}"
    for node in lay.nodes:
        st = states.get(node.name, unknown)
        name = escape(node.name)
        cls = f"node st-{st.display}" + (" disabled" if st.disabled else "")
        title = escape(_title(node.name, st))
        run = f"#{st.run}" if st.run else ""
        out.append(
            f'<g class="{cls}" data-task="{name}" transform="translate({node.x:.0f},{node.y:.0f})"'
            f' tabindex="0" role="button" aria-label="{title}"><title>{title}</title>'
            f'<rect width="{node.w:.0f}" height="{node.h:.0f}" rx="7"/>'
            f'<text class="ic" x="14" y="{mid}">{escape(st.icon)}</text>'
            f'<text class="lb" x="28" y="{mid}">{escape(node.label)}</text>'
            f'<text class="rn" x="{node.w - 9:.0f}" y="{mid}">{run}</text></g>'
        )
    out.append("</g></g></svg>")
    return Markup("".join(out))
