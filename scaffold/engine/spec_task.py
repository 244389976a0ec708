"""The task-level rules of a cascade file: each task's keys, and the references between tasks.

:class:`TaskReader` reads ``tasks:`` item by item, remembering every name that must exist elsewhere
(parent tasks, cascade inputs); :meth:`TaskReader.check_references` then reports unknown names,
self-dependencies and dependency cycles, once every task has been read.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from scaffold.engine import graph
from scaffold.engine.model import CheckSpec, DataRefs, Dependency, DependencyKind, Retries, TaskSpec
from scaffold.engine.spec_reader import NodeReader, suggest
from scaffold.engine.spec_yaml import Problems, describe

TASK_KEYS = (
    "name", "image", "run", "shell", "depends_on", "auto_execute", "inputs", "env",
    "load", "store", "check", "timeout", "retries", "runs_on", "disabled",
)  # fmt: skip
DATA_KEYS = ("env", "file")
CHECK_KEYS = ("interval", "run", "image", "inputs", "env", "load")
DEPENDS_KEYS = tuple(kind.value for kind in DependencyKind)
RETRIES_KEYS = ("count", "delay")


def _file_name_ok(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and "\0" not in name and name[0] != "."


class _Ref:
    """A name used somewhere that must exist elsewhere (a parent task or an input)."""

    __slots__ = ("name", "node", "path", "task")

    def __init__(self, name: str, node: Node, path: str, task: str | None):
        self.name, self.node, self.path, self.task = name, node, path, task


class TaskReader(NodeReader):
    """Reads the tasks of a cascade; ``require_image=False`` accepts tasks without ``image``."""

    def __init__(self, problems: Problems, require_image: bool):
        super().__init__(problems)
        self.require_image = require_image
        self.parents: list[_Ref] = []
        self.input_refs: list[_Ref] = []
        self.task_nodes: dict[str, tuple[int, Node, Node | None]] = {}  # name -> (index, node, depends)

    def tasks(self, node: Node) -> list[TaskSpec]:
        items = self.sequence(node, "tasks", "a list of tasks")
        if items is None:
            return []
        if not items:
            self.add(node, "tasks", "a cascade needs at least one task")
        return [t for i, item in enumerate(items) if (t := self.task(item, f"tasks[{i}]", i)) is not None]

    def task(self, node: Node, path: str, index: int) -> TaskSpec | None:
        fields = self.mapping(node, path, TASK_KEYS, "a task (a map with name, image, run...)")
        if fields is None:
            return None
        name_node = self.required(fields, "name", node, path)
        name = self.name(name_node, f"{path}.name", "task") if name_node is not None else None
        if name is not None and name in self.task_nodes:
            first = self.task_nodes[name][1].start_mark.line + 1
            self.add(
                name_node, f"{path}.name", f"duplicate task name {name!r} (first defined at line {first})"
            )
        elif name is not None:
            self.task_nodes[name] = (index, node, fields.get("depends_on"))
        spec: dict[str, Any] = {"name": name, "line": node.start_mark.line + 1}
        run = self.required(fields, "run", node, path)
        spec["run"] = self.string(run, f"{path}.run") if run is not None else None
        if "image" in fields:
            spec["image"] = self.string(fields["image"], f"{path}.image", "an image name", empty_ok=False)
        elif self.require_image:
            self.add(node, path, "missing required key 'image' (the container image to run in)")
        if "shell" in fields:
            spec["shell"] = self.string(fields["shell"], f"{path}.shell", "a shell path", empty_ok=False)
        for key in ("auto_execute", "disabled"):
            if key in fields:
                spec[key] = self.boolean(fields[key], f"{path}.{key}")
        if "depends_on" in fields:
            spec["depends_on"] = self.depends_on(fields["depends_on"], f"{path}.depends_on", name)
        self.task_extras(fields, path, name, spec)
        if self.problems.items:
            return None  # nothing is built once anything is wrong: the walk only collects problems
        return TaskSpec(**spec)

    def task_extras(self, fields: dict[str, Node], path: str, name: str | None, spec: dict[str, Any]) -> None:
        if "inputs" in fields:
            spec["inputs"] = self.input_map(fields["inputs"], f"{path}.inputs", name)
        if "env" in fields:
            spec["env"] = self.env(fields["env"], f"{path}.env")
        for key in ("load", "store"):
            if key in fields:
                spec[key] = self.data_refs(fields[key], f"{path}.{key}")
        if "check" in fields:
            spec["check"] = self.check(fields["check"], f"{path}.check", name)
        if "timeout" in fields:
            spec["timeout"] = self.duration(fields["timeout"], f"{path}.timeout", positive=True)
        if "retries" in fields:
            spec["retries"] = self.retries(fields["retries"], f"{path}.retries")
        if "runs_on" in fields:
            spec["runs_on"] = tuple(
                v for v, _, _ in self.strings(fields["runs_on"], f"{path}.runs_on", "label")
            )

    def depends_on(self, node: Node, path: str, task: str | None) -> tuple[Dependency, ...]:
        groups: list[tuple[DependencyKind, Node, str]] = []
        if isinstance(node, SequenceNode):
            groups.append((DependencyKind.SUCCESS, node, path))
        elif isinstance(node, MappingNode):
            fields = self.mapping(node, path, DEPENDS_KEYS, "") or {}
            groups.extend((DependencyKind(k), fields[k], f"{path}.{k}") for k in DEPENDS_KEYS if k in fields)
        else:
            what = "a list of task names, or a map with success, error and always"
            self.add(node, path, f"expected {what}, got {describe(node)}")
        seen: dict[str, DependencyKind] = {}
        out = []
        for kind, items, group_path in groups:
            for parent, item, _ in self.strings(items, group_path, "task name"):
                if parent in seen:
                    where = (
                        "twice"
                        if seen[parent] is kind
                        else f"under both {seen[parent].value!r} and {kind.value!r}"
                    )
                    self.add(item, group_path, f"task {parent!r} is listed {where}")
                    continue
                seen[parent] = kind
                self.parents.append(_Ref(parent, item, group_path, task))
                out.append(Dependency(parent, kind))
        return tuple(out)

    def input_map(self, node: Node, path: str, task: str | None) -> tuple[tuple[str, str], ...]:
        """``{ENV: input}`` or ``[A, B]`` (= ``{A: A, B: B}``) -> ((ENV, input), ...)."""
        out: list[tuple[str, str]] = []
        if isinstance(node, SequenceNode):
            seen: set[str] = set()
            for value, item, item_path in self.strings(node, path, "input name"):
                if value in seen:
                    self.add(item, item_path, f"input {value!r} is listed twice")
                elif self.env_name(value, item, item_path, "environment variable name"):
                    seen.add(value)
                    out.append((value, value))
                    self.input_refs.append(_Ref(value, item, item_path, task))
            return tuple(out)
        if not isinstance(node, MappingNode):
            what = "a map of ENV_NAME: input_name, or a list of input names"
            self.add(node, path, f"expected {what}, got {describe(node)}")
            return ()
        for env, (key, value) in self.pairs(node, path, 0).items():
            item_path = f"{path}.{env}"
            ok = self.env_name(env, key, item_path, "environment variable name")
            input_name = self.string(value, item_path, "an input name", empty_ok=False)
            if ok and input_name is not None:
                out.append((env, input_name))
                self.input_refs.append(_Ref(input_name, value, item_path, task))
        return tuple(out)

    def env(self, node: Node, path: str) -> tuple[tuple[str, str], ...]:
        if not isinstance(node, MappingNode):
            self.add(node, path, f"expected a map of ENV_NAME: value, got {describe(node)}")
            return ()
        out = []
        for env, (key, value) in self.pairs(node, path, 0).items():
            ok = self.env_name(env, key, f"{path}.{env}", "environment variable name")
            text = self.scalar(value, f"{path}.{env}")
            if ok and text is not None:
                out.append((env, text))
        return tuple(out)

    def data_refs(self, node: Node, path: str) -> DataRefs:
        fields = self.mapping(node, path, DATA_KEYS, "a map with env and file lists") or {}
        env: list[str] = []
        files: list[str] = []
        if "env" in fields:
            for value, item, item_path in self.strings(fields["env"], f"{path}.env", "variable name"):
                if value in env:
                    self.add(item, item_path, f"{value!r} is listed twice")
                elif self.env_name(value, item, item_path, "variable name"):
                    env.append(value)
        if "file" in fields:
            for value, item, item_path in self.strings(fields["file"], f"{path}.file", "file name"):
                if not _file_name_ok(value):
                    msg = f"bad file name {value!r}: use a plain file name (no '/', not starting with '.')"
                    self.add(item, item_path, msg)
                elif value in files:
                    self.add(item, item_path, f"{value!r} is listed twice")
                else:
                    files.append(value)
        return DataRefs(env=tuple(env), file=tuple(files))

    def check(self, node: Node, path: str, task: str | None) -> CheckSpec | None:
        fields = self.mapping(node, path, CHECK_KEYS, "a map with interval and run")
        if fields is None:
            return None
        interval = self.required(fields, "interval", node, path)
        run = self.required(fields, "run", node, path)
        seconds = self.duration(interval, f"{path}.interval", positive=True) if interval is not None else None
        script = self.string(run, f"{path}.run") if run is not None else None
        image = (
            self.string(fields["image"], f"{path}.image", "an image name", False)
            if "image" in fields
            else None
        )
        inputs = self.input_map(fields["inputs"], f"{path}.inputs", task) if "inputs" in fields else ()
        env = self.env(fields["env"], f"{path}.env") if "env" in fields else ()
        load = self.data_refs(fields["load"], f"{path}.load") if "load" in fields else DataRefs()
        if seconds is None or script is None:
            return None
        return CheckSpec(interval=seconds, run=script, image=image, inputs=inputs, env=env, load=load)

    def retries(self, node: Node, path: str) -> Retries | None:
        if isinstance(node, ScalarNode):
            count = self.count(node, path)
            return Retries(count=count) if count is not None else None
        if not isinstance(node, MappingNode):
            self.add(
                node,
                path,
                f"expected a number of retries or a map with count and delay, got {describe(node)}",
            )
            return None
        fields = self.mapping(node, path, RETRIES_KEYS, "") or {}
        count_node = self.required(fields, "count", node, path)
        count = self.count(count_node, f"{path}.count") if count_node is not None else None
        delay = self.duration(fields["delay"], f"{path}.delay", positive=False) if "delay" in fields else 0.0
        if count is None or delay is None:
            return None
        return Retries(count=count, delay=delay)

    # -- across tasks --------------------------------------------------------------------------------

    def check_references(self, input_names: set[str]) -> None:
        names = self.task_nodes
        edges: dict[str, list[str]] = {name: [] for name in names}
        for ref in self.parents:
            if ref.name == ref.task:
                self.add(ref.node, ref.path, "a task cannot depend on itself")
            elif ref.name not in names:
                self.add(ref.node, ref.path, f"unknown task {ref.name!r}{suggest(ref.name, names)}")
            elif ref.task in edges:
                edges[ref.task].append(ref.name)
        for ref in self.input_refs:
            if ref.name not in input_names:
                hint = suggest(ref.name, input_names) if input_names else " (the cascade declares no inputs)"
                self.add(ref.node, ref.path, f"unknown input {ref.name!r}{hint}")
        cycle = graph.find_cycle(edges)
        if cycle:
            loop = cycle[:-1]
            start = min(range(len(loop)), key=lambda i: names[loop[i]][0])
            loop = loop[start:] + loop[:start]
            index, _, depends = names[loop[0]]
            shown = [*loop, loop[0]]
            if len(shown) > 21:  # name a long cycle by its ends
                shown = [*shown[:10], f"... ({len(shown) - 20} more)", *shown[-10:]]
            self.add(depends, f"tasks[{index}].depends_on", "dependency cycle: " + " -> ".join(shown))
