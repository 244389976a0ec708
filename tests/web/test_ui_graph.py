"""The cascade page's graph layout (scaffold/web/ui/graph.py) and its routes, without a browser:
layers, order, coordinates, edges and SVG of the layout; the page, its fragments and the JSON of
display states on a real server (fake executor, memory store)."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from itertools import pairwise

import pytest

from scaffold.web.ui import cascade as cascade_page
from scaffold.web.ui import graph
from scaffold.web.ui.graph import GAP_X, NODE_H, NodeState, layout, render_svg
from tests.web.conftest import PASSWORD, Server

DEPLOY = [  # examples/application-deploy.yaml
    ("deploy_terraform", []),
    ("create_db_schemas", ["deploy_terraform"]),
    ("create_db_users", ["create_db_schemas"]),
    ("build_images", []),
    ("push_images", ["build_images"]),
    ("deploy_application", ["create_db_users", "push_images"]),
    ("deploy_traefik", ["create_db_users", "push_images"]),
    ("run_tests", ["deploy_application"]),
    ("register_new", ["run_tests", "deploy_traefik"]),
    ("east_coast_check", ["register_new"]),
    ("midwest_check", ["register_new"]),
    ("west_coast_check", ["register_new"]),
    ("deregister_old", ["east_coast_check", "midwest_check", "west_coast_check"]),
    ("destroy_old_application", ["deregister_old"]),
    ("destroy_old_traefik", ["deregister_old"]),
]


def tasks(shape, kind="success"):
    return [(name, [(p, kind) for p in parents]) for name, parents in shape]


def layered(layers: int, width: int, seed: int = 1):
    rng = random.Random(seed)
    shape = []
    for layer in range(layers):
        for i in range(width):
            parents = (
                [f"l{layer - 1}_{p}" for p in rng.sample(range(width), rng.choice((1, 2, 3)))]
                if layer
                else []
            )
            shape.append((f"l{layer}_{i}", parents))
    return shape


def check_geometry(lay: graph.Layout, shape) -> None:
    """Every edge points down; boxes of a layer never overlap; everything is inside the canvas."""
    by = lay.by_name
    for name, parents in shape:
        for parent in parents:
            assert by[parent].layer < by[name].layer, (parent, name)
            assert by[parent].y + NODE_H < by[name].y
    rows: dict[int, list[graph.NodeBox]] = {}
    for box in lay.nodes:
        rows.setdefault(box.layer, []).append(box)
        assert box.x >= 0 and box.y >= 0
        assert box.x + box.w <= lay.width + 0.5 and box.y + box.h <= lay.height + 0.5
    for row in rows.values():
        row.sort(key=lambda b: b.x)
        for left, right in pairwise(row):
            assert left.x + left.w + GAP_X - 0.6 <= right.x, (left, right)


# ----------------------------------------------------------------------------------- layout


def test_deploy_example_layers_order_and_edges():
    lay = layout(tasks(DEPLOY))
    check_geometry(lay, DEPLOY)
    layer = {n.name: n.layer for n in lay.nodes}
    assert layer["deploy_terraform"] == 0
    # a root with more children than parents moves down next to its child (shorter edges)
    assert layer["build_images"] == layer["push_images"] - 1 == layer["deploy_application"] - 2
    assert layer["destroy_old_application"] == layer["destroy_old_traefik"] == lay.layers - 1 == 8
    assert len(lay.edges) == 18
    assert {(e.parent, e.child) for e in lay.edges} == {(p, n) for n, ps in DEPLOY for p in ps}
    assert all(e.d.startswith("M") for e in lay.edges)
    assert lay.crossings <= 1  # create_db_users/push_images x deploy_application/deploy_traefik: K2,2
    assert lay.virtual == 1  # deploy_traefik -> register_new spans two layers


def test_a_chain_is_a_straight_vertical_line():
    shape = [("a", []), ("b", ["a"]), ("c", ["b"]), ("d", ["c"])]
    lay = layout(tasks(shape))
    centres = {round(n.x + n.w / 2, 1) for n in lay.nodes}
    assert len(centres) == 1
    assert all("C" not in e.d for e in lay.edges)  # straight segments only
    assert [n.layer for n in lay.nodes] == [0, 1, 2, 3]


def test_barycenter_sweeps_remove_avoidable_crossings():
    # file order draws x under b and y under a: crossed unless the children are reordered
    shape = [("a", []), ("b", []), ("x", ["b"]), ("y", ["a"]), ("z", ["x", "y"])]
    lay = layout(tasks(shape))
    assert lay.crossings == 0
    by = lay.by_name
    assert (by["a"].x < by["b"].x) == (by["y"].x < by["x"].x)


def test_a_fan_in_is_centred_under_its_parents():
    shape = [("root", []), *((f"m{i}", ["root"]) for i in range(5)), ("sink", [f"m{i}" for i in range(5)])]
    lay = layout(tasks(shape))
    by = lay.by_name
    middle = [by[f"m{i}"] for i in range(5)]
    span = (min(b.x for b in middle) + max(b.x + b.w for b in middle)) / 2
    for name in ("root", "sink"):
        assert abs(by[name].x + by[name].w / 2 - span) < 1.0


@pytest.mark.parametrize("shape", [layered(20, 50), layered(50, 20), layered(10, 100, seed=5)])
def test_a_thousand_tasks_keep_the_geometry(shape):
    lay = layout(tasks(shape))
    assert len(lay.nodes) == 1000
    check_geometry(lay, shape)
    edges = sum(len(ps) for _, ps in shape)
    assert len(lay.edges) == edges


def test_long_edges_are_capped_on_pathological_graphs():
    # every task of a 600-chain also depends on the root: ~180,000 virtual nodes uncapped
    shape = [("t0", [])] + [(f"t{i}", [f"t{i - 1}", "t0"]) for i in range(1, 600)]
    lay = layout(tasks(shape))
    assert lay.virtual <= max(2000, 4 * 600)
    assert len(lay.edges) == 599 + 598
    check_geometry(lay, shape)


def test_dependency_kinds_are_kept_and_odd_input_is_tolerated():
    lay = layout(
        [
            ("a", []),
            ("b", [("a", "error")]),
            ("c", [("a", "always"), ("b", "success"), ("ghost", "success"), ("c", "success")]),
            ("d", [("a", "success"), ("a", "always")]),  # two kinds on one parent: two edges
        ]
    )
    kinds = {(e.parent, e.child, e.kind) for e in lay.edges}
    assert kinds == {
        ("a", "b", "error"),
        ("a", "c", "always"),
        ("b", "c", "success"),
        ("a", "d", "success"),
        ("a", "d", "always"),
    }
    with pytest.raises(ValueError, match="cycle"):
        layout([("x", [("y", "success")]), ("y", [("x", "success")])])
    assert layout([]).nodes == []
    single = layout([("only", [])])
    assert single.layers == 1 and single.nodes[0].x == graph.MARGIN


def test_long_names_are_truncated_on_the_node_only():
    name = "a_really_long_task_name_that_goes_on_and_on"
    lay = layout([(name, [])])
    box = lay.nodes[0]
    assert box.name == name
    assert len(box.label) == graph.LABEL_MAX and box.label.endswith("…")
    svg = str(render_svg(lay, {}, "c"))
    assert f"<title>{name}: not started</title>" in svg


def test_svg_is_well_formed_and_escapes_everything():
    shape = [("a<b>&\"x'", []), ("c", [])]
    lay = layout([(shape[0][0], []), ("c", [(shape[0][0], "always")])])
    states = {
        "c": NodeState("blocked", "blocked", "⊘", run=3, reason='waits for "a<b>": error', disabled=True),
    }
    svg = str(render_svg(lay, states, "cas<cade>"))
    root = ET.fromstring(svg)  # well-formed XML
    ns = {"s": "http://www.w3.org/2000/svg"}
    nodes = root.findall(".//s:g[@data-task]", ns)
    assert [n.get("data-task") for n in nodes] == ["a<b>&\"x'", "c"]
    c = nodes[1]
    assert c.get("class") == "node st-blocked disabled"
    assert c.get("aria-label") == 'c: blocked, run 3, disabled (waits for "a<b>": error)'
    assert c.get("tabindex") == "0" and c.get("role") == "button"
    assert "<b>" not in svg and "cas<cade>" not in svg
    edge = root.find(".//s:path[@data-to='c']", ns)
    assert edge.get("class") == "edge k-always" and edge.get("marker-end") == "url(#arrow-always)"
    assert root.get("data-tasks") == "2"


# ----------------------------------------------------------------------------------- routes


async def session(server: Server, username: str):
    client = server.client(follow_redirects=False)
    r = await client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"})
    assert r.status_code == 303, r.text
    return client


async def test_page_shows_graph_buttons_and_hides_the_cascade_from_outsiders(server: Server):
    writer = await session(server, "writer_in")
    r = await writer.get("/cascades/ops-deploy")
    assert r.status_code == 200
    html = r.text
    assert html.count('class="node st-not_started"') == 3
    assert 'id="start-cascade"' in html and 'hx-get="/cascades/ops-deploy/start-dialog"' in html
    assert '<aside id="task-panel" class="task-panel" aria-label="Task" hidden></aside>' in html
    assert 'id="dialog-slot"' in html
    assert "hunter2-db-password" not in html  # password defaults never reach a page
    for link in ("inputs", "datastore", "webhooks", "definition"):
        assert f'href="/cascades/ops-deploy/{link}"' in html
    reader = await session(server, "reader_in")
    r = await reader.get("/cascades/ops-deploy")
    assert r.status_code == 200 and 'id="start-cascade"' not in r.text
    outsider = await session(server, "writer_out")
    for path in ("", "/states", "/graph", "/grid", "/timeline"):
        r = await outsider.get(f"/cascades/ops-deploy{path}")
        assert r.status_code == 404, path
    assert (await outsider.get("/cascades/nope")).status_code == 404
    anonymous = server.client(follow_redirects=False)
    r = await anonymous.get("/cascades/ops-deploy?view=grid")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


async def test_states_grid_and_timeline_follow_a_run(server: Server):
    writer = await session(server, "writer_in")
    r = await writer.get("/cascades/ops-deploy/states")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["counts"] == {"not_started": 3}
    assert body["tasks"]["apply"] == {
        "display": "not_started",
        "state": "not_started",
        "run": 0,
        "reason": "waits for plan",
        "disabled": False,
    }
    assert "No wave yet" in (await writer.get("/cascades/ops-deploy?view=grid")).text
    assert "No run yet" in (await writer.get("/cascades/ops-deploy?view=timeline")).text

    r = await server.client("writer_in").post("/api/v1/cascades/ops-deploy/start", json={})
    assert r.status_code == 200, r.text
    await server.core.engine.wait_idle()
    body = (await writer.get("/cascades/ops-deploy/states")).json()
    assert body["counts"] == {"success": 3} and body["active"] is False
    assert {t["run"] for t in body["tasks"].values()} == {1}

    grid = (await writer.get("/cascades/ops-deploy/grid")).text
    assert grid.lstrip().startswith('<div id="grid-fragment"')  # a fragment, not a page
    assert len(re.findall(r'<a class="cell st-success"', grid)) == 3
    assert 'href="?view=grid&amp;task=apply&amp;run=1" title="apply: success, run 1"' in grid
    columns = re.findall(r'<th scope="col" class="task-col" title="([^"]+)"', grid)
    assert columns == ["plan", "apply", "verify"]
    timeline = (await writer.get("/cascades/ops-deploy/timeline")).text
    assert len(re.findall(r'class="tl-bar st-success', timeline)) == 3
    assert "exit code 0" in timeline
    page = (await writer.get("/cascades/ops-deploy")).text
    assert page.count('class="node st-success"') == 3 and ">#1</text>" in page


async def test_layout_is_computed_once_per_definition_version(server: Server):
    writer = await session(server, "writer_in")
    cascade_page._LAYOUTS.clear()
    await writer.get("/cascades/ops-deploy")
    first = dict(cascade_page._LAYOUTS)
    await writer.get("/cascades/ops-deploy/graph")
    assert dict(cascade_page._LAYOUTS) == first and len(first) == 1
    live = server.core.engine.cascades["ops-deploy"]
    text = live.record.source.replace("echo planning", "echo planning again")
    r = await server.client("admin").put(
        "/api/v1/cascades/ops-deploy", content=text, headers={"Content-Type": "application/yaml"}
    )
    assert r.status_code == 200, r.text
    fragment = (await writer.get("/cascades/ops-deploy/graph")).text
    assert fragment.startswith('<div id="graph-canvas"')
    assert len(cascade_page._LAYOUTS) == 2
