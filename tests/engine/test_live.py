"""The touched-task index of LiveCascade agrees with a plain walk of the graph."""

import random

from scaffold.engine import graph
from scaffold.engine.live import LiveCascade
from scaffold.engine.model import CascadeSpec, Dependency, TaskSpec
from scaffold.engine.records import CascadeRecord, TaskRow
from scaffold.engine.states import State


def _random_cascade(rng: random.Random, size: int) -> CascadeSpec:
    tasks = []
    for i in range(size):
        parents = rng.sample(range(i), k=min(i, rng.randint(0, 3)))
        tasks.append(
            TaskSpec(name=f"t{i}", run="true", depends_on=tuple(Dependency(f"t{p}") for p in parents))
        )
    rng.shuffle(tasks)  # file order is not topological order
    return CascadeSpec(name="r", tasks=tuple(tasks))


def test_touched_descendants_match_a_graph_walk():
    rng = random.Random(3)
    for _ in range(30):
        spec = _random_cascade(rng, rng.randint(2, 60))
        rows = {t.name: TaskRow("r", t.name) for t in spec.tasks}
        live = LiveCascade(spec, rows, {}, CascadeRecord("r", 1, ""))
        for _ in range(200):
            name = rng.choice(spec.task_names)
            old = rows[name].state
            new = (
                State.NOT_STARTED
                if old is not State.NOT_STARTED
                else rng.choice([State.SUCCESS, State.ERROR])
            )
            rows[name].state = new
            live.state_changed(name, old, new)
            probe = rng.choice(spec.task_names)
            expected = {
                d for d in graph.descendants(live.children, [probe]) if rows[d].state is not State.NOT_STARTED
            }
            assert set(live.touched_descendants(probe)) == expected
