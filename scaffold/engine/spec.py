"""Cascade files (SPEC section 1) -> validated, frozen ``CascadeSpec``.

The pipeline is: bytes or text -> decoded text -> a ruamel.yaml *node tree* (every node carries its
line and column) -> one walk over the nodes that checks every rule and collects every problem ->
cross-task checks (unknown parents, self-dependencies, cycles, unknown inputs) -> dataclasses.
Nothing stops at the first problem: a file is reported whole, then refused whole.

Why a node tree and not ``YAML(typ="rt").load``: the walk needs positions for *every* value,
scalars included, and the round-trip loader is slow: about 4.5 s to load a 10,000-task file on a
2-core machine; ruamel's pure-Python composer alone still takes about 3 s. So when
``ruamel.yaml.clib`` is installed its libyaml-based C parser composes the node tree, and the whole
validation of 10,000 tasks takes about 0.3 s; without it, ruamel's own Python reader, scanner,
parser and composer do the same job, only slower. Any error on the C path is parsed again in pure
Python so that messages never depend on which parser ran (tests run the corpus through both).
The cyclic garbage collector is paused while the tree is built and walked: the tree is tens of
thousands of acyclic objects, freed by reference counting before collection resumes, and
collection passes over them used to double the time.

YAML semantics come from ruamel.yaml, YAML 1.2 core schema: ``yes``/``no``/``on`` are strings, so
``auto_execute: yes`` is refused as "not a boolean". Anchors, aliases and ``<<`` merge keys work;
top-level keys starting with ``x-`` (as in Compose files) are ignored, so anchors have a home:
``x-defaults: &defaults {image: ubuntu:24.04}`` then ``<<: *defaults`` in each task.
"""

from __future__ import annotations

import codecs
import difflib
import gc
import math
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import ruamel.yaml.main
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import implicit_resolvers
from ruamel.yaml.tag import Tag

from scaffold.engine import graph
from scaffold.engine.model import (
    CascadeSpec,
    CheckSpec,
    DataRefs,
    Dependency,
    DependencyKind,
    InputSpec,
    InputType,
    Retries,
    TaskSpec,
)
from scaffold.errors import InvalidInput, ValidationFailed

__all__ = ["SpecInvalid", "SpecProblem", "load_file", "parse_cascade", "parse_duration"]

MAX_NAME = 63
MAX_DEPTH = 100  # nesting of YAML collections; deeper is refused, not a RecursionError

TOP_KEYS = ("version", "name", "description", "groups", "links", "inputs", "tasks")
TASK_KEYS = (
    "name", "image", "run", "shell", "depends_on", "auto_execute", "inputs", "env",
    "load", "store", "check", "timeout", "retries", "runs_on", "disabled",
)  # fmt: skip
INPUT_KEYS = ("name", "description", "type", "default")
DATA_KEYS = ("env", "file")
CHECK_KEYS = ("interval", "run", "image", "inputs", "env", "load")
DEPENDS_KEYS = tuple(kind.value for kind in DependencyKind)
RETRIES_KEYS = ("count", "delay")
INPUT_TYPES = {"text": InputType.TEXT, "plaintext": InputType.TEXT,
               "password": InputType.PASSWORD, "secret": InputType.PASSWORD}  # fmt: skip

_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+\Z")
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DURATION_RE = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d))+\Z")
_DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_NUMBER_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?\Z")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

_T = "tag:yaml.org,2002:"
_KINDS = {_T + "str": "string", _T + "null": "null", _T + "bool": "bool",
          _T + "int": "int", _T + "float": "float", _T + "merge": "merge"}  # fmt: skip

_C_PARSER: Any = ruamel.yaml.main.CParser  # None unless ruamel.yaml.clib is installed
USE_C_PARSER = _C_PARSER is not None  # tests switch it off to compare both parsers


# ----------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with a cascade file: where (1-based line and column), which field, what."""

    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}, col {self.col}: "
        return f"{where}{self.path}: {self.message}" if self.path else where + self.message

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    problems = _Problems()
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


# ----------------------------------------------------------------------------------------------
# Text -> node tree


class _Problems:
    def __init__(self) -> None:
        self.items: list[SpecProblem] = []

    def add(self, where: Any, path: str, message: str) -> None:
        mark = getattr(where, "start_mark", where)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        self.items.append(SpecProblem(line, col, path, message))

    def at(self, line: int, col: int, message: str) -> None:
        self.items.append(SpecProblem(line, col, "", message))

    def sorted(self) -> list[SpecProblem]:
        unique = list(dict.fromkeys(self.items))
        return sorted(unique, key=lambda p: (p.line, p.col))


@contextmanager
def _gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# ruamel's own YAML 1.2 implicit resolvers (regexps by first character), looked up without the
# per-scalar version detection of ruamel's VersionedResolver, and answering with one shared Tag per
# tag: building and URI-decoding a fresh Tag per node cost more than libyaml's whole parse.
def _yaml_1_2_resolvers() -> tuple[dict[str, Tag], dict[str, list[tuple[Tag, Any]]]]:
    tags = {_T + name: Tag(suffix=_T + name) for name in ("str", "seq", "map")}
    by_first: dict[str, list[tuple[Tag, Any]]] = {}
    for versions, tag, regexp, firsts in implicit_resolvers:
        if (1, 2) in versions:
            shared = tags.setdefault(tag, Tag(suffix=tag))
            for first in firsts:
                by_first.setdefault(first, []).append((shared, regexp.match))
    return tags, by_first


_SHARED_TAGS, _RESOLVERS_1_2 = _yaml_1_2_resolvers()
_DEFAULT_TAGS = {kind: _SHARED_TAGS[_T + name] for kind, name in
                 ((ScalarNode, "str"), (SequenceNode, "seq"), (MappingNode, "map"))}  # fmt: skip
_KIND_BY_TAG_ID = {id(tag): _KINDS.get(name, "string") for name, tag in _SHARED_TAGS.items()}

if _C_PARSER is not None:

    class _CLoader(_C_PARSER):  # type: ignore[misc,valid-type]
        """libyaml (from ruamel.yaml.clib) reads, scans, parses and composes; tags as in YAML 1.2."""

        def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> Tag:
            if kind is ScalarNode and implicit[0]:
                for tag, match in _RESOLVERS_1_2.get(value[:1], ()):
                    if match(value):
                        return tag
            return _DEFAULT_TAGS[kind]

        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            pass

        def ascend_resolver(self) -> None:
            pass


def _parse(text: str | bytes, problems: _Problems, require_image: bool) -> CascadeSpec | None:
    root = _compose(text, problems)
    return None if problems.items else _Validator(problems, require_image).cascade(root)


def _decode(data: bytes, problems: _Problems) -> str | None:
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encoding = "utf-32"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
        nul = data.find(b"\0")
        if nul >= 0:
            line, col = _byte_position(data, nul)
            problems.at(line, col, "this is a binary file, not YAML text (it contains NUL bytes)")
            return None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line, col = _byte_position(data, exc.start)
        problems.at(
            line, col, f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} is not valid UTF-8)"
        )
        return None


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    return data.count(b"\n", 0, offset) + 1, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


def _compose(text: str | bytes, problems: _Problems) -> Node | None:
    if isinstance(text, bytes | bytearray):
        decoded = _decode(bytes(text), problems)
        if decoded is None:
            return None
        text = decoded
    text = text.removeprefix("\ufeff")
    # %YAML directives pick the resolver version, which only the Python scanner tells the resolver.
    if USE_C_PARSER and "%YAML" not in text:
        try:
            node = _CLoader(text).get_single_node()
        except Exception:  # YAML, encoding or recursion errors alike:
            pass  # parse again in Python, so that messages never depend on the parser installed
        else:
            return _non_empty(node, problems)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yaml = YAML(typ="safe", pure=True)  # its composer, without its constructor
            yaml.max_depth = MAX_DEPTH
            node = yaml.compose(text)
    except ReaderError as exc:
        line, col = _char_position(text, exc.position)
        problems.at(line, col, f"character U+{exc.character:04X} is not allowed in a YAML file")
        return None
    except MarkedYAMLError as exc:
        problems.add(exc.problem_mark, "", _yaml_message(exc))
        return None
    except YAMLError as exc:
        problems.at(1, 1, f"invalid YAML: {str(exc).splitlines()[0]}")
        return None
    except RecursionError:
        problems.at(1, 1, f"the document is nested too deeply (more than {MAX_DEPTH} levels)")
        return None
    return _non_empty(node, problems)


def _non_empty(node: Node | None, problems: _Problems) -> Node | None:
    if node is None or (isinstance(node, ScalarNode) and _kind(node) == "null"):
        problems.at(1, 1, "the file is empty; a cascade needs at least a name and tasks")
        return None
    return node


def _char_position(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _yaml_message(exc: MarkedYAMLError) -> str:
    problem = str(exc.problem or exc.context or "invalid YAML")
    if problem == "but found another document":
        return "a cascade file holds one YAML document; a second one starts here"
    if problem.startswith("maximum depth"):
        return f"the document is nested too deeply (more than {MAX_DEPTH} levels)"
    if problem.startswith("found undefined alias"):
        alias = problem.split()[-1].strip("'")
        return f"unknown alias '*{alias}': no anchor '&{alias}' is defined before it"
    message = f"YAML syntax error: {problem}"
    if exc.context and exc.context_mark is not None and exc.problem:
        mark = exc.context_mark
        message += f" ({exc.context} at line {mark.line + 1}, col {mark.column + 1})"
    if "'\\t'" in problem:
        message += "; indent with spaces, YAML does not allow tabs here"
    elif problem == "mapping values are not allowed here":
        message += "; check the indentation, or quote a value that contains ': '"
    elif "<block end>" in problem:
        message += "; check the indentation"
    return message


# ----------------------------------------------------------------------------------------------
# Node helpers


def _kind(node: Node) -> str:
    """'map', 'list', or for scalars 'string', 'null', 'bool', 'int', 'float', 'merge' (by tag)."""
    if isinstance(node, MappingNode):
        return "map"
    if isinstance(node, SequenceNode):
        return "list"
    kind = _KIND_BY_TAG_ID.get(id(node.ctag))  # fast path: a tag from _CLoader.resolve
    return kind if kind is not None else _KINDS.get(str(node.ctag), "string")  # timestamps: text


def _describe(node: Node) -> str:
    kind = _kind(node)
    if kind in ("map", "list"):
        return f"a {kind}"
    if kind == "null":
        return "an empty value"
    text = node.value if len(node.value) <= 40 else node.value[:37] + "..."
    if kind == "bool":
        return f"the boolean {text}"
    if kind in ("int", "float"):
        return f"the number {text}"
    return f"the string {text!r}"


def _suggest(word: str, candidates: Any) -> str:
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


def _scalar_text(node: ScalarNode) -> str:
    """A scalar as the string a task sees: booleans normalised, everything else as written."""
    return node.value.lower() if _kind(node) == "bool" else node.value


def _file_name_ok(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and "\0" not in name and name[0] != "."


# ----------------------------------------------------------------------------------------------
# The walk


class _Ref:
    """A name used somewhere that must exist elsewhere (a parent task or an input)."""

    __slots__ = ("name", "node", "path", "task")

    def __init__(self, name: str, node: Node, path: str, task: str | None):
        self.name, self.node, self.path, self.task = name, node, path, task


class _Validator:
    def __init__(self, problems: _Problems, require_image: bool):
        self.problems = problems
        self.add = problems.add
        self.require_image = require_image
        self.parents: list[_Ref] = []
        self.input_refs: list[_Ref] = []
        self.task_nodes: dict[str, tuple[int, Node, Node | None]] = {}  # name -> (index, node, depends)

    # -- generic shapes ------------------------------------------------------------------------

    def mapping(
        self, node: Node, path: str, allowed: tuple[str, ...], what: str, extensions: bool = False
    ) -> dict[str, Node] | None:
        """The pairs of a map (merge keys applied), after reporting unknown and duplicate keys.

        With ``extensions``, keys starting with ``x-`` are accepted and ignored (a place for anchors).
        """
        if not isinstance(node, MappingNode):
            self.add(node, path, f"expected {what}, got {_describe(node)}")
            return None
        pairs = self.pairs(node, path, 0)
        for name, (key, _) in pairs.items():
            if name not in allowed and not (extensions and name.startswith("x-")):
                hint = _suggest(name, allowed) or f"; expected one of: {', '.join(allowed)}"
                self.add(key, path, f"unknown key {name!r}{hint}")
        return {name: value for name, (_, value) in pairs.items()}

    def pairs(self, node: MappingNode, path: str, depth: int) -> dict[str, tuple[Node, Node]]:
        own: dict[str, tuple[Node, Node]] = {}
        merged: dict[str, tuple[Node, Node]] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode) and _kind(key) == "merge" and depth < MAX_DEPTH:
                sources = value.value if isinstance(value, SequenceNode) else [value]
                for source in sources:
                    if isinstance(source, MappingNode):
                        for name, pair in self.pairs(source, path, depth + 1).items():
                            merged.setdefault(name, pair)
                    else:
                        self.add(source, path, f"'<<' merges maps, got {_describe(source)}")
                continue
            if not isinstance(key, ScalarNode):
                self.add(key, path, f"a key must be a string, got {_describe(key)}")
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
        self.add(node, path, f"expected {what}, got {_describe(node)}")
        return None

    def string(self, node: Node, path: str, what: str = "a string", empty_ok: bool = True) -> str | None:
        if isinstance(node, ScalarNode) and _kind(node) == "string":
            if empty_ok or node.value.strip():
                return node.value
            self.add(node, path, f"expected {what}, got an empty string")
            return None
        hint = f' (quote it if you mean the text: "{node.value}")' if _kind(node) in ("int", "float") else ""
        self.add(node, path, f"expected {what}, got {_describe(node)}{hint}")
        return None

    def strings(self, node: Node, path: str, what: str) -> list[tuple[str, Node, str]]:
        """A list of non-empty strings, as (value, node, item path); bad items are reported."""
        items = self.sequence(node, path, f"a list of {what}s")
        out = []
        for i, item in enumerate(items or ()):
            value = self.string(item, f"{path}[{i}]", f"a {what}", empty_ok=False)
            if value is not None:
                out.append((value, item, f"{path}[{i}]"))
        return out

    def boolean(self, node: Node, path: str) -> bool | None:
        if isinstance(node, ScalarNode) and _kind(node) == "bool":
            return node.value.lower() == "true"
        self.add(node, path, f"expected true or false, got {_describe(node)}")
        return None

    def count(self, node: Node, path: str) -> int | None:
        if isinstance(node, ScalarNode) and _kind(node) == "int":
            value = _yaml_int(node.value)
            if value is not None and value >= 0:
                return value
        self.add(node, path, f"expected a whole number (0 or more), got {_describe(node)}")
        return None

    def duration(self, node: Node, path: str, positive: bool) -> float | None:
        if isinstance(node, ScalarNode) and _kind(node) in ("int", "float", "string"):
            try:
                seconds = parse_duration(node.value if _kind(node) == "string" else float(node.value))
            except ValueError:
                pass
            else:
                if seconds > 0 or not positive:
                    return seconds
                self.add(node, path, "a duration must be more than 0")
                return None
        self.add(node, path, f"expected a duration like 90s, 30m, 2h or 1h30m, got {_describe(node)}")
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

    # -- the cascade -----------------------------------------------------------------------------

    def cascade(self, root: Node) -> CascadeSpec | None:
        fields = self.mapping(
            root, "", TOP_KEYS, "a map with version, name, inputs and tasks", extensions=True
        )
        if fields is None:
            return None
        version = fields.get("version")
        if version is not None and not (isinstance(version, ScalarNode) and version.value == "v1"):
            self.add(version, "version", f"expected v1 (the only version), got {_describe(version)}")
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

    def optional_string(self, fields: dict[str, Node], key: str, path: str) -> str | None:
        return self.string(fields[key], path) if key in fields else None

    def links(self, node: Node) -> list[tuple[str, str]]:
        if not isinstance(node, MappingNode):
            self.add(node, "links", f"expected a map of title: URL, got {_describe(node)}")
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
                    hint = _suggest(type_name, INPUT_TYPES) or "; use text or password"
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

    def scalar(self, node: Node, path: str, null_ok: bool = False) -> str | None:
        """A scalar turned into the string a task sees (``true``, ``3``, ``1.5``, ``text``)."""
        if isinstance(node, ScalarNode) and (_kind(node) != "null" or null_ok):
            return None if _kind(node) == "null" else _scalar_text(node)
        self.add(node, path, f"expected a text, number or boolean value, got {_describe(node)}")
        return None

    # -- tasks -------------------------------------------------------------------------------------

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
            self.add(node, path, f"expected {what}, got {_describe(node)}")
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
            self.add(node, path, f"expected {what}, got {_describe(node)}")
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
            self.add(node, path, f"expected a map of ENV_NAME: value, got {_describe(node)}")
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
                f"expected a number of retries or a map with count and delay, got {_describe(node)}",
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
                self.add(ref.node, ref.path, f"unknown task {ref.name!r}{_suggest(ref.name, names)}")
            elif ref.task in edges:
                edges[ref.task].append(ref.name)
        for ref in self.input_refs:
            if ref.name not in input_names:
                hint = _suggest(ref.name, input_names) if input_names else " (the cascade declares no inputs)"
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
