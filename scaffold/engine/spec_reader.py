"""Reading typed values out of YAML nodes, reporting every problem with its position.

:class:`NodeReader` holds the generic shapes of a cascade file (maps with known keys and ``<<``
merges, lists, strings, booleans, counts, durations, names); :mod:`scaffold.engine.spec_task` and
:mod:`scaffold.engine.spec` build the task and cascade rules on top of it. A reader never stops at
a problem: it records it and answers None (or an empty value), so one walk finds them all.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from scaffold.engine.spec_yaml import MAX_DEPTH, Problems, describe, node_kind, scalar_text

MAX_NAME = 63

_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+\Z")
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DURATION_RE = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d))+\Z")
_DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_NUMBER_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?\Z")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``90s``, ``30m``, ``2h``, ``1h30m``, ``1.5h``, ``500ms``, ``2d`` or a plain number.

    Raises ``ValueError`` for negatives, booleans, NaN/infinity and anything else.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _NUMBER_RE.match(text):
            seconds = float(text)
        elif _DURATION_RE.match(text):
            seconds = sum(float(n) * _UNITS[unit] for n, unit in _DURATION_PART_RE.findall(text))
        else:
            raise ValueError(f"not a duration: {value!r}")
    else:
        raise ValueError(f"not a duration: {value!r}")
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError(f"not a duration: {value!r}")
    return seconds


def suggest(word: str, candidates: Any) -> str:
    """`` (did you mean 'x'?)`` for the candidate closest to a misspelt word, or ``""``."""
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    match = lowered.get(word.lower())
    if match is None:
        close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
        match = close[0] if close else None
    return f" (did you mean {match!r}?)" if match is not None else ""


def _yaml_int(text: str) -> int | None:
    """A YAML 1.2 int (``3``, ``0x1F``, ``0o17``, ``1_000``); leading zeros read as decimal."""
    text = text.replace("_", "")
    for base in (0, 10):
        try:
            return int(text, base)
        except ValueError:
            continue
    return None


class NodeReader:
    """The generic shapes of a cascade file; every method reports what is wrong to ``problems``."""

    def __init__(self, problems: Problems):
        self.problems = problems
        self.add = problems.add

    def mapping(
        self, node: Node, path: str, allowed: tuple[str, ...], what: str, extensions: bool = False
    ) -> dict[str, Node] | None:
        """The pairs of a map (merge keys applied), after reporting unknown and duplicate keys.

        With ``extensions``, keys starting with ``x-`` are accepted and ignored (a place for anchors).
        """
        if not isinstance(node, MappingNode):
            self.add(node, path, f"expected {what}, got {describe(node)}")
            return None
        pairs = self.pairs(node, path, 0)
        for name, (key, _) in pairs.items():
            if name not in allowed and not (extensions and name.startswith("x-")):
                hint = suggest(name, allowed) or f"; expected one of: {', '.join(allowed)}"
                self.add(key, path, f"unknown key {name!r}{hint}")
        return {name: value for name, (_, value) in pairs.items()}

    def pairs(self, node: MappingNode, path: str, depth: int) -> dict[str, tuple[Node, Node]]:
        own: dict[str, tuple[Node, Node]] = {}
        merged: dict[str, tuple[Node, Node]] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode) and node_kind(key) == "merge" and depth < MAX_DEPTH:
                sources = value.value if isinstance(value, SequenceNode) else [value]
                for source in sources:
                    if isinstance(source, MappingNode):
                        for name, pair in self.pairs(source, path, depth + 1).items():
                            merged.setdefault(name, pair)
                    else:
                        self.add(source, path, f"'<<' merges maps, got {describe(source)}")
                continue
            if not isinstance(key, ScalarNode):
                self.add(key, path, f"a key must be a string, got {describe(key)}")
                continue
            if isinstance(value, ScalarNode) and not value.value and not value.style:
                value.start_mark = key.start_mark  # parsers disagree on where "nothing" is: say the key
            if key.value in own:
                first = own[key.value][0].start_mark.line + 1
                self.add(key, path, f"duplicate key {key.value!r} (first at line {first})")
                continue
            own[key.value] = (key, value)
        for name, pair in merged.items():
            own.setdefault(name, pair)
        return own

    def required(self, fields: dict[str, Node], key: str, node: Node, path: str) -> Node | None:
        value = fields.get(key)
        if value is None:
            self.add(node, path, f"missing required key {key!r}")
        return value

    def sequence(self, node: Node, path: str, what: str) -> list[Node] | None:
        if isinstance(node, SequenceNode):
            return node.value
        self.add(node, path, f"expected {what}, got {describe(node)}")
        return None

    def string(self, node: Node, path: str, what: str = "a string", empty_ok: bool = True) -> str | None:
        if isinstance(node, ScalarNode) and node_kind(node) == "string":
            if empty_ok or node.value.strip():
                return node.value
            self.add(node, path, f"expected {what}, got an empty string")
            return None
        numeric = node_kind(node) in ("int", "float")
        hint = f' (quote it if you mean the text: "{node.value}")' if numeric else ""
        self.add(node, path, f"expected {what}, got {describe(node)}{hint}")
        return None

    def optional_string(self, fields: dict[str, Node], key: str, path: str) -> str | None:
        return self.string(fields[key], path) if key in fields else None

    def strings(self, node: Node, path: str, what: str) -> list[tuple[str, Node, str]]:
        """A list of non-empty strings, as (value, node, item path); bad items are reported."""
        items = self.sequence(node, path, f"a list of {what}s")
        out = []
        for i, item in enumerate(items or ()):
            value = self.string(item, f"{path}[{i}]", f"a {what}", empty_ok=False)
            if value is not None:
                out.append((value, item, f"{path}[{i}]"))
        return out

    def scalar(self, node: Node, path: str, null_ok: bool = False) -> str | None:
        """A scalar turned into the string a task sees (``true``, ``3``, ``1.5``, ``text``)."""
        if isinstance(node, ScalarNode) and (node_kind(node) != "null" or null_ok):
            return None if node_kind(node) == "null" else scalar_text(node)
        self.add(node, path, f"expected a text, number or boolean value, got {describe(node)}")
        return None

    def boolean(self, node: Node, path: str) -> bool | None:
        if isinstance(node, ScalarNode) and node_kind(node) == "bool":
            return node.value.lower() == "true"
        self.add(node, path, f"expected true or false, got {describe(node)}")
        return None

    def count(self, node: Node, path: str) -> int | None:
        if isinstance(node, ScalarNode) and node_kind(node) == "int":
            value = _yaml_int(node.value)
            if value is not None and value >= 0:
                return value
        self.add(node, path, f"expected a whole number (0 or more), got {describe(node)}")
        return None

    def duration(self, node: Node, path: str, positive: bool) -> float | None:
        if isinstance(node, ScalarNode) and node_kind(node) in ("int", "float", "string"):
            try:
                seconds = parse_duration(node.value if node_kind(node) == "string" else float(node.value))
            except ValueError:
                pass
            else:
                if seconds > 0 or not positive:
                    return seconds
                self.add(node, path, "a duration must be more than 0")
                return None
        self.add(node, path, f"expected a duration like 90s, 30m, 2h or 1h30m, got {describe(node)}")
        return None

    def name(self, node: Node, path: str, what: str) -> str | None:
        value = self.string(node, path, f"a {what} name")
        if value is None:
            return None
        if not _NAME_RE.match(value):
            self.add(node, path, f"bad {what} name {value!r}: use only letters, digits, '-', '_' and '.'")
        elif len(value) > MAX_NAME:
            self.add(node, path, f"{what} name is {len(value)} characters long; at most {MAX_NAME} allowed")
        return value

    def env_name(self, name: str, node: Node, path: str, what: str) -> bool:
        if _ENV_RE.match(name):
            return True
        self.add(node, path, f"bad {what} {name!r}: use letters, digits and '_', not starting with a digit")
        return False
