"""Cascade files (SPEC section 1) -> validated, frozen ``CascadeSpec``.

The pipeline is: bytes or text -> decoded text -> a ruamel.yaml *node tree* (every node carries its
line and column) -> one walk over the nodes that checks every rule and collects every problem ->
cross-task checks (unknown parents, self-dependencies, cycles, unknown inputs) -> dataclasses.
Nothing stops at the first problem: a file is reported whole, then refused whole.

The parts, one module each:

* :mod:`scaffold.engine.spec_yaml`: text -> node tree, with the libyaml (C) parser when
  ``ruamel.yaml.clib`` is installed and ruamel's pure-Python one otherwise; YAML error messages.
* :mod:`scaffold.engine.spec_reader`: the generic shapes (maps, lists, strings, durations, names).
* :mod:`scaffold.engine.spec_task`: each task's keys, then the references between tasks.
* this module: the public API and the top level of the file (name, links, inputs, tasks).

The cyclic garbage collector is paused while the tree is built and walked: the tree is tens of
thousands of acyclic objects, freed by reference counting before collection resumes, and
collection passes over them used to double the time.

YAML semantics come from ruamel.yaml, YAML 1.2 core schema: ``yes``/``no``/``on`` are strings, so
``auto_execute: yes`` is refused as "not a boolean". Anchors, aliases and ``<<`` merge keys work;
top-level keys starting with ``x-`` (as in Compose files) are ignored, so anchors have a home:
``x-defaults: &defaults {image: ubuntu:24.04}`` then ``<<: *defaults`` in each task.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode

from scaffold.engine import spec_yaml
from scaffold.engine.model import CascadeSpec, InputSpec, InputType
from scaffold.engine.spec_reader import MAX_NAME, parse_duration, suggest
from scaffold.engine.spec_task import TaskReader
from scaffold.engine.spec_yaml import Problems, SpecProblem, describe
from scaffold.errors import InvalidInput, ValidationFailed

__all__ = ["SpecInvalid", "SpecProblem", "load_file", "parse_cascade", "parse_duration"]

TOP_KEYS = ("version", "name", "description", "groups", "links", "inputs", "tasks")
INPUT_KEYS = ("name", "description", "type", "default")
INPUT_TYPES = {"text": InputType.TEXT, "plaintext": InputType.TEXT,
               "password": InputType.PASSWORD, "secret": InputType.PASSWORD}  # fmt: skip

USE_C_PARSER = spec_yaml.C_PARSER_AVAILABLE  # tests switch it off to compare both parsers


# ----------------------------------------------------------------------------------------------
# Public API


class SpecInvalid(ValidationFailed):
    """A cascade file was refused. ``problems`` holds every problem; ``details`` the same as dicts."""

    def __init__(self, problems: list[SpecProblem], source: str):
        count = len(problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in {source}", [p.to_dict() for p in problems]
        )
        self.problems = tuple(problems)
        self.source = source


def parse_cascade(text: str | bytes, source: str = "<string>", *, require_image: bool = True) -> CascadeSpec:
    """Parse and validate one cascade file; raise ``SpecInvalid`` listing every problem found.

    ``require_image=False`` accepts tasks without ``image`` (for servers with a host executor).
    """
    problems = Problems()
    with _gc_paused():
        spec = _parse(text, problems, require_image)  # the node tree is freed when this returns
    if problems.items or spec is None:
        raise SpecInvalid(problems.sorted(), source)
    return spec


def load_file(path: str | Path, *, require_image: bool = True) -> CascadeSpec:
    """Read and parse a cascade file; an unreadable file raises ``InvalidInput``."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_cascade(data, str(path), require_image=require_image)


@contextmanager
def _gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse(text: str | bytes, problems: Problems, require_image: bool) -> CascadeSpec | None:
    root = spec_yaml.compose(text, problems, use_c_parser=USE_C_PARSER)
    return None if problems.items else _CascadeReader(problems, require_image).cascade(root)


# ----------------------------------------------------------------------------------------------
# The walk


class _CascadeReader(TaskReader):
    """The top level of a cascade file; the tasks and the shapes come from the base classes."""

    def cascade(self, root: Node) -> CascadeSpec | None:
        fields = self.mapping(
            root, "", TOP_KEYS, "a map with version, name, inputs and tasks", extensions=True
        )
        if fields is None:
            return None
        version = fields.get("version")
        if version is not None and not (isinstance(version, ScalarNode) and version.value == "v1"):
            self.add(version, "version", f"expected v1 (the only version), got {describe(version)}")
        name_node = self.required(fields, "name", root, "")
        name = self.name(name_node, "name", "cascade") if name_node is not None else None
        description = self.optional_string(fields, "description", "description")
        groups = self.strings(fields["groups"], "groups", "group name") if "groups" in fields else []
        links = self.links(fields["links"]) if "links" in fields else []
        inputs = self.inputs(fields["inputs"]) if "inputs" in fields else []
        tasks_node = self.required(fields, "tasks", root, "")
        tasks = self.tasks(tasks_node) if tasks_node is not None else []
        self.check_references({i.name for i in inputs})
        if self.problems.items or name is None:
            return None
        return CascadeSpec(
            name=name,
            tasks=tuple(tasks),
            description=description or "",
            groups=tuple(group for group, _, _ in groups),
            links=tuple(links),
            inputs=tuple(inputs),
        )

    def links(self, node: Node) -> list[tuple[str, str]]:
        if not isinstance(node, MappingNode):
            self.add(node, "links", f"expected a map of title: URL, got {describe(node)}")
            return []
        out = []
        for title, (_, value) in self.pairs(node, "links", 0).items():
            url = self.string(value, f"links.{title}", "a URL")
            if url is not None and not url.startswith(("http://", "https://")):
                self.add(value, f"links.{title}", f"a link must be an http:// or https:// URL, got {url!r}")
            elif url is not None:
                out.append((title, url))
        return out

    def inputs(self, node: Node) -> list[InputSpec]:
        out: list[InputSpec] = []
        first_line: dict[str, int] = {}
        for i, item in enumerate(self.sequence(node, "inputs", "a list of inputs") or ()):
            path = f"inputs[{i}]"
            fields = self.mapping(item, path, INPUT_KEYS, "an input (a map with name, type, default...)")
            if fields is None:
                continue
            name_node = self.required(fields, "name", item, path)
            name = self.input_name(name_node, f"{path}.name") if name_node is not None else None
            if name is not None and name in first_line:
                msg = f"duplicate input name {name!r} (first defined at line {first_line[name]})"
                self.add(name_node, f"{path}.name", msg)
                name = None
            elif name is not None:
                first_line[name] = item.start_mark.line + 1
            kind = InputType.TEXT
            if "type" in fields:
                type_name = self.string(fields["type"], f"{path}.type", "an input type")
                if type_name is not None and type_name not in INPUT_TYPES:
                    hint = suggest(type_name, INPUT_TYPES) or "; use text or password"
                    self.add(fields["type"], f"{path}.type", f"unknown input type {type_name!r}{hint}")
                kind = INPUT_TYPES.get(type_name or "", kind)
            description = self.optional_string(fields, "description", f"{path}.description") or ""
            default = (
                self.scalar(fields["default"], f"{path}.default", null_ok=True)
                if "default" in fields
                else None
            )
            if name is not None:
                out.append(InputSpec(name=name, type=kind, description=description, default=default))
        return out

    def input_name(self, node: Node, path: str) -> str | None:
        value = self.string(node, path, "an input name")
        if value is None:
            return None
        if not self.env_name(value, node, path, "input name"):
            return None
        if len(value) > MAX_NAME:
            self.add(node, path, f"input name is {len(value)} characters long; at most {MAX_NAME} allowed")
        return value
