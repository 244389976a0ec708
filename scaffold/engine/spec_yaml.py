"""Cascade file text -> a ruamel.yaml *node tree*, every node with its line and column.

The first step of :mod:`scaffold.engine.spec`: decode the bytes, compose the YAML, and turn every
decoding or YAML error into a :class:`SpecProblem` with a message a person can act on. Also the
small readers of single nodes (their kind, how to describe them in a message).

Why a node tree and not ``YAML(typ="rt").load``: the validation needs positions for *every* value,
scalars included, and the round-trip loader is slow: about 4.5 s to load a 10,000-task file on a
2-core machine; ruamel's pure-Python composer alone still takes about 3 s. So when
``ruamel.yaml.clib`` is installed its libyaml-based C parser composes the node tree, and the whole
validation of 10,000 tasks takes about 0.3 s; without it, ruamel's own Python reader, scanner,
parser and composer do the same job, only slower. Any error on the C path is parsed again in pure
Python so that messages never depend on which parser ran (tests run the corpus through both).

YAML semantics come from ruamel.yaml, YAML 1.2 core schema: ``yes``/``no``/``on`` are strings.
"""

from __future__ import annotations

import codecs
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import ruamel.yaml.main
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import implicit_resolvers
from ruamel.yaml.tag import Tag

MAX_DEPTH = 100  # nesting of YAML collections; deeper is refused, not a RecursionError

_T = "tag:yaml.org,2002:"
_KINDS = {_T + "str": "string", _T + "null": "null", _T + "bool": "bool",
          _T + "int": "int", _T + "float": "float", _T + "merge": "merge"}  # fmt: skip

_C_PARSER: Any = ruamel.yaml.main.CParser  # None unless ruamel.yaml.clib is installed
C_PARSER_AVAILABLE = _C_PARSER is not None


# ----------------------------------------------------------------------------------------------
# Problems


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


class Problems:
    """Every problem found in one file, collected while reading it and sorted at the end."""

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


# ----------------------------------------------------------------------------------------------
# The C loader


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


# ----------------------------------------------------------------------------------------------
# Text -> node tree


def compose(text: str | bytes, problems: Problems, *, use_c_parser: bool) -> Node | None:
    """The node tree of one YAML document, or None with the reasons added to ``problems``.

    ``use_c_parser`` picks libyaml when it is installed (see the module docstring)."""
    if isinstance(text, bytes | bytearray):
        decoded = _decode(bytes(text), problems)
        if decoded is None:
            return None
        text = decoded
    text = text.removeprefix("\ufeff")
    # %YAML directives pick the resolver version, which only the Python scanner tells the resolver.
    if use_c_parser and C_PARSER_AVAILABLE and "%YAML" not in text:
        try:
            node = _CLoader(text).get_single_node()
        except Exception:  # YAML, encoding or recursion errors alike:
            pass  # parse again in Python, so that messages never depend on the parser installed
        else:
            return _non_empty(node, problems)
    return _compose_pure(text, problems)


def _compose_pure(text: str, problems: Problems) -> Node | None:
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


def _decode(data: bytes, problems: Problems) -> str | None:
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


def _non_empty(node: Node | None, problems: Problems) -> Node | None:
    if node is None or (isinstance(node, ScalarNode) and node_kind(node) == "null"):
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
# Single nodes


def node_kind(node: Node) -> str:
    """'map', 'list', or for scalars 'string', 'null', 'bool', 'int', 'float', 'merge' (by tag)."""
    if isinstance(node, MappingNode):
        return "map"
    if isinstance(node, SequenceNode):
        return "list"
    kind = _KIND_BY_TAG_ID.get(id(node.ctag))  # fast path: a tag from _CLoader.resolve
    return kind if kind is not None else _KINDS.get(str(node.ctag), "string")  # timestamps: text


def describe(node: Node) -> str:
    """What a node is, for messages: ``a map``, ``an empty value``, ``the number 3``..."""
    kind = node_kind(node)
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


def scalar_text(node: ScalarNode) -> str:
    """A scalar as the string a task sees: booleans normalised, everything else as written."""
    return node.value.lower() if node_kind(node) == "bool" else node.value
