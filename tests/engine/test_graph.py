from scaffold.engine import graph


def test_cycle_found_and_named():
    parents = {"a": ["c"], "b": ["a"], "c": ["b"], "d": []}
    cycle = graph.find_cycle(parents)
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}


def test_no_cycle_and_order_on_a_long_chain():
    n = 20_000
    parents = {f"t{i}": ([f"t{i - 1}"] if i else []) for i in range(n)}
    assert graph.find_cycle(parents) is None
    order = graph.topological_order(parents)
    assert order[0] == "t0" and order[-1] == f"t{n - 1}"


def test_descendants_and_ancestors():
    children = {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}
    parents = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    assert set(graph.descendants(children, ["b"])) == {"d"}
    assert set(graph.descendants(children, ["a"])) == {"b", "c", "d"}
    assert set(graph.ancestors(parents, ["d"])) == {"a", "b", "c"}
